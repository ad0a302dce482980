"""What the tests share, in one place: the stack (Temporal, worker, API, SQLite, SMTP) and the way
to leave it quiet, the mail reader, the actors (staff tokens and accounts), and the smaller helpers
(recorded media, workflow histories, a throwaway PostgreSQL, the synchronous driver). Fixtures stay
in the conftest files; everything a test imports comes from here."""
