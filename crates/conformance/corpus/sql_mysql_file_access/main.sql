-- Attacks: MariaDB's file statements, run through the server in the box
-- as a session's SQL runs: read the host's secret file and /etc/passwd
-- into a table or a value, read it from the client's side, and write
-- files outside the server's own directory.
-- Expected: every statement is refused (secure-file-priv, local-infile
-- off), nothing is read, and the server's host is the box.
CREATE TABLE loot (line TEXT);
LOAD DATA INFILE '{{host_secret_path}}' INTO TABLE loot;
LOAD DATA INFILE '/etc/passwd' INTO TABLE loot;
LOAD DATA LOCAL INFILE '{{host_secret_path}}' INTO TABLE loot;
SELECT CONCAT('secret: ', IFNULL(LOAD_FILE('{{host_secret_path}}'), 'none')) AS probe;
SELECT CONCAT('passwd: ', IFNULL(LOAD_FILE('/etc/passwd'), 'none')) AS probe;
SELECT 'escape' INTO OUTFILE '/tmp/escape.txt';
SELECT 'escape' INTO DUMPFILE '/usr/escape.bin';
SELECT CONCAT('loot rows: ', COUNT(*)) AS probe FROM loot;
SELECT CONCAT('server host: ', @@hostname) AS probe;
SELECT 'after the attacks' AS probe;
