-- Companion conversations: one active conversation per person and persona, its messages, and
-- the rolling summary of turns that no longer fit in the model's context.
CREATE TABLE conversations (
    id              INTEGER PRIMARY KEY,
    person_id       INTEGER NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
    persona_id      INTEGER NOT NULL DEFAULT 0,          -- 0 = the built-in default persona
    started_at      REAL NOT NULL,
    ended_at        REAL,                                -- set by /reset; NULL = active
    summary         TEXT NOT NULL DEFAULT '',
    summary_upto    INTEGER NOT NULL DEFAULT 0,          -- last message id folded into summary
    summary_tokens  INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX conversations_one_active
    ON conversations(person_id, persona_id) WHERE ended_at IS NULL;
CREATE INDEX conversations_person ON conversations(person_id, id);

-- status: user rows are 'pending' until answered, then 'complete'; assistant rows are
-- 'streaming' while text arrives (flushed periodically), then 'complete' or 'partial'.
CREATE TABLE messages (
    id                 INTEGER PRIMARY KEY,
    conversation_id    INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    role               TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
    text               TEXT NOT NULL,
    status             TEXT NOT NULL CHECK (status IN ('pending', 'complete', 'partial', 'streaming')),
    model              TEXT,
    fallback           INTEGER NOT NULL DEFAULT 0,
    tokens             INTEGER NOT NULL DEFAULT 0,       -- our estimate for `text`
    prompt_tokens      INTEGER,                          -- the provider's usage, when reported
    completion_tokens  INTEGER,
    msg_key            TEXT,                             -- the platform message key (user rows)
    created_at         REAL NOT NULL
);
CREATE INDEX messages_conversation ON messages(conversation_id, id);
-- Replies a killed process left mid-stream, and messages still waiting for an answer: both
-- are looked up on every turn, so neither may scan a long conversation.
CREATE INDEX messages_streaming ON messages(conversation_id) WHERE status = 'streaming';
CREATE INDEX messages_pending ON messages(conversation_id, id) WHERE status = 'pending';
-- A message re-delivered after a crash (recovery re-runs its turn) is stored once.
CREATE UNIQUE INDEX messages_key ON messages(conversation_id, msg_key) WHERE msg_key IS NOT NULL;

-- Per-person companion choices (the model picked with /model).
CREATE TABLE companion_prefs (
    person_id  INTEGER PRIMARY KEY REFERENCES persons(id) ON DELETE CASCADE,
    model      TEXT
);
