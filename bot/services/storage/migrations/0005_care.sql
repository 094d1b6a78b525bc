-- Care: per-person care state, the 24-hour risk window, anniversaries, and identifier-free
-- crisis counters. No table here holds message text.

-- Timestamps are Unix seconds (UTC). `stopped_at`: the person used /stop (or an exit word);
-- nothing unsolicited is sent after it unless `reminders_opt_in` = 1.
CREATE TABLE care_state (
    person_id           INTEGER PRIMARY KEY REFERENCES persons(id) ON DELETE CASCADE,
    region              TEXT,
    minor               INTEGER NOT NULL DEFAULT 0 CHECK (minor IN (0, 1)),
    stopped_at          REAL,
    reminders_opt_in    INTEGER NOT NULL DEFAULT 0 CHECK (reminders_opt_in IN (0, 1)),
    last_block_at       REAL,
    first_seen_at       REAL,
    last_message_at     REAL,
    session_started_at  REAL,
    last_disclosure_at  REAL,
    start_notice_on     TEXT,
    last_break_at       REAL,
    updated_at          REAL NOT NULL
);

-- A8: a high-tier flag opens a 24-hour window; the row is deleted when it expires.
CREATE TABLE care_risk (
    person_id   INTEGER PRIMARY KEY REFERENCES persons(id) ON DELETE CASCADE,
    expires_at  REAL NOT NULL
);
CREATE INDEX care_risk_expiry ON care_risk(expires_at);

-- Opt-in dates that matter; the scheduler sends one in-persona DM on the day. `next_fire_at`
-- is persisted so a restart neither skips nor repeats a message.
CREATE TABLE anniversaries (
    id                INTEGER PRIMARY KEY,
    person_id         INTEGER NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
    persona_id        INTEGER,
    persona_name      TEXT NOT NULL DEFAULT '',
    month             INTEGER NOT NULL CHECK (month BETWEEN 1 AND 12),
    day               INTEGER NOT NULL CHECK (day BETWEEN 1 AND 31),
    year              INTEGER,
    label             TEXT NOT NULL,
    platform          TEXT NOT NULL,
    platform_user_id  TEXT NOT NULL,
    locale            TEXT NOT NULL DEFAULT 'en',
    tz                TEXT NOT NULL DEFAULT 'UTC',
    next_fire_at      REAL NOT NULL,
    last_fired_at     REAL,
    created_at        REAL NOT NULL
);
CREATE INDEX anniversaries_person ON anniversaries(person_id);
CREATE INDEX anniversaries_due ON anniversaries(next_fire_at);

-- A13: aggregate counts only (SB 243 §22603 reporting): no person, chat or text. `tier` is the
-- screen's verdict (checkin / high / escalated) or `referral` each time crisis lines were shown.
CREATE TABLE crisis_counts (
    day     TEXT NOT NULL,
    tier    TEXT NOT NULL CHECK (tier IN ('checkin', 'high', 'escalated', 'referral')),
    locale  TEXT NOT NULL,
    place   TEXT NOT NULL CHECK (place IN ('dm', 'group')),
    count   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (day, tier, locale, place)
);

-- A14: an opt-in trusted contact. The contact joins by sending a one-time code from their own
-- account (so they consent and are reachable); they are messaged only when the person sends
-- /notify, and never told anything the person said.
CREATE TABLE care_trusted (
    person_id         INTEGER PRIMARY KEY REFERENCES persons(id) ON DELETE CASCADE,
    contact_platform  TEXT NOT NULL,
    contact_user_id   TEXT NOT NULL,
    contact_name      TEXT NOT NULL DEFAULT '',
    created_at        REAL NOT NULL
);

CREATE TABLE care_trusted_invites (
    code        TEXT PRIMARY KEY,
    person_id   INTEGER NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
    expires_at  REAL NOT NULL
);
