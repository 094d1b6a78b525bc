-- People, their platform accounts, chats, and the inbound log used to drop re-deliveries.
CREATE TABLE persons (
    id          INTEGER PRIMARY KEY,
    locale      TEXT,
    created_at  REAL NOT NULL
);

CREATE TABLE users (
    id                INTEGER PRIMARY KEY,
    platform          TEXT NOT NULL,
    platform_user_id  TEXT NOT NULL,
    person_id         INTEGER NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
    display_name      TEXT NOT NULL DEFAULT '',
    created_at        REAL NOT NULL,
    UNIQUE (platform, platform_user_id)
);
CREATE INDEX users_person ON users(person_id);

CREATE TABLE chats (
    id                INTEGER PRIMARY KEY,
    platform          TEXT NOT NULL,
    platform_chat_id  TEXT NOT NULL,
    kind              TEXT NOT NULL CHECK (kind IN ('dm', 'group')),
    locale            TEXT,
    created_at        REAL NOT NULL,
    UNIQUE (platform, platform_chat_id)
);

CREATE TABLE inbox (
    platform     TEXT NOT NULL,
    key          TEXT NOT NULL,
    received_at  REAL NOT NULL,
    status       TEXT NOT NULL DEFAULT 'received',
    PRIMARY KEY (platform, key)
);
