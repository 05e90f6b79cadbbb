-- A player turns the play reminder off on the Account page; no row means no reminder (0015), so
-- turning it off deletes the row (server/src/protection/reminder.rs, `set`). The change stays in
-- the audit log.
GRANT DELETE ON play_reminders TO kasa_app;
