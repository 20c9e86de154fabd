-- sluice 0003: reserved for job_events (written on main by another change).
-- This placeholder keeps the numbering without a gap on the listing branch (loadMigrations refuses gaps);
-- when the branches merge, main's 0003_job_events.sql replaces it. It changes nothing.
SELECT 1;
