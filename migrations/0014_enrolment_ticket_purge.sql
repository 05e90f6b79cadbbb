-- Spent and expired enrolment tickets are credentials nobody can use any more: the session purge
-- removes them (server/src/auth/second_factor/store.rs, `purge_tickets`). The enrolment itself
-- stays in the audit log.
GRANT DELETE ON staff_enrolment_tickets TO kasa_app;
