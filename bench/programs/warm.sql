-- heapshift bench, real programs: SQLite's shell (sqlite3.exe built from the
-- amalgamation), an in-memory database. The warm-up: its tables and indexes
-- stay live (a late takeover makes their pages old blocks).
CREATE TABLE item(id INTEGER PRIMARY KEY, name TEXT, grp INTEGER, price REAL);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 60000)
INSERT INTO item SELECT x, printf('item-%06d-%s', (x * 7919) % 100003, hex(x)), x % 97, (x * 31 % 1000) / 10.0 FROM c;
CREATE INDEX item_name ON item(name);
.print warm
