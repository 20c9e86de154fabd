-- sluice: no-transaction
-- sluice 0016: validate the trace's format check, which 0014 added NOT VALID (docs/upgrading.md). Released
-- migrations are never edited: add the next number instead.
--
-- 0014 added jobs.trace and its check without reading a record: every existing one holds NULL. This scan
-- proves it, under a SHARE UPDATE EXCLUSIVE lock that lets enqueues, claims and outcomes go on, outside a
-- transaction as 0006 explains (a scan in 0014's transaction would have held its ACCESS EXCLUSIVE lock for
-- as long). New and updated records have been checked since 0014.
ALTER TABLE jobs VALIDATE CONSTRAINT jobs_trace_format;
