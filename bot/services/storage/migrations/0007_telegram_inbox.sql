-- The raw Telegram update, kept from the moment getUpdates returned it until a handler claims it,
-- so an update fetched just before a crash is replayed on the next start (issue 9). It is set to
-- NULL as soon as handling starts, so message text does not linger here.
ALTER TABLE inbox ADD COLUMN raw TEXT;
