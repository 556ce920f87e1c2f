-- Attacks: PostgreSQL's file and program access, run through the server in
-- the box as a session's SQL runs, as the server's superuser: COPY the
-- host's secret file into a table (server side, and through a program),
-- read it with pg_read_file, write into the read-only root.
-- Expected: the secret file does not exist for the server, nothing is
-- written outside the box's writable places, and a program that COPY
-- starts runs in the box (it sees the box's hostname).
CREATE TABLE loot (line TEXT);
COPY loot FROM '{{host_secret_path}}';
COPY loot FROM PROGRAM 'cat {{host_secret_path}}';
SELECT 'secret: ' || coalesce(pg_read_file('{{host_secret_path}}', 0, 4096, true), 'none') AS probe;
COPY (SELECT 'escape') TO '/usr/escape.txt';
SELECT 'loot rows: ' || count(*) AS probe FROM loot;
CREATE TABLE seen (line TEXT);
COPY seen FROM PROGRAM 'cat /etc/hostname';
SELECT 'program ran on: ' || line AS probe FROM seen;
SELECT 'server file: ' || trim(E'\n' FROM pg_read_file('/etc/hostname')) AS probe;
SELECT 'after the attacks' AS probe;
