-- Durable turns, the outbox and per-person daily token use (issue 9).
--
-- An inbox row now carries what is needed to answer its message after a restart. The text is
-- held only while the turn is unanswered and wiped once it is answered, ignored or given up;
-- the conversation history (companion tables) is the lasting copy.
ALTER TABLE inbox ADD COLUMN chat_id TEXT NOT NULL DEFAULT '';
ALTER TABLE inbox ADD COLUMN chat_kind TEXT NOT NULL DEFAULT 'dm';
ALTER TABLE inbox ADD COLUMN user_id TEXT NOT NULL DEFAULT '';
ALTER TABLE inbox ADD COLUMN user_name TEXT NOT NULL DEFAULT '';
ALTER TABLE inbox ADD COLUMN locale_hint TEXT;
ALTER TABLE inbox ADD COLUMN text TEXT;
ALTER TABLE inbox ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE inbox ADD COLUMN updated_at REAL;
CREATE INDEX inbox_open ON inbox(status, received_at) WHERE status IN ('received', 'pending');

-- A reply is written here before it is sent and marked sent after the platform accepted it.
-- `final` marks a complete reply (a streamed message's settled text, or a recovered answer);
-- a pending non-final row is a half-streamed message that a restart replaces by a new answer.
CREATE TABLE outbox (
    id          INTEGER PRIMARY KEY,
    platform    TEXT NOT NULL,
    chat_id     TEXT NOT NULL,
    inbox_key   TEXT,
    text        TEXT NOT NULL,
    final       INTEGER NOT NULL DEFAULT 0,
    status      TEXT NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'sent', 'dropped', 'failed')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    created_at  REAL NOT NULL,
    sent_at     REAL
);
CREATE INDEX outbox_pending ON outbox(platform, id) WHERE status = 'pending';
CREATE INDEX outbox_turn ON outbox(platform, inbox_key);

-- Model tokens spent per person per UTC day, for the optional daily quota.
CREATE TABLE usage_daily (
    person_id  INTEGER NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
    day        TEXT NOT NULL,
    tokens     INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (person_id, day)
);
