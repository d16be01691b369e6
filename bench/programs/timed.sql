-- heapshift bench, real programs: SQLite's timed phase. Every result is
-- printed: the output must be the same in every variant.
CREATE TABLE sale(id INTEGER PRIMARY KEY, item INTEGER, qty INTEGER, note TEXT);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 150000)
INSERT INTO sale SELECT x, 1 + (x * 104729) % 60000, 1 + x % 9, substr('abcdefghijklmnopqrstuvwxyz', 1 + x % 26) FROM c;
CREATE INDEX sale_item ON sale(item);
SELECT grp, count(*), round(sum(price), 2) FROM item GROUP BY grp ORDER BY grp LIMIT 5;
SELECT i.grp, sum(s.qty), count(DISTINCT s.item) FROM sale s JOIN item i ON i.id = s.item GROUP BY i.grp ORDER BY 2 DESC LIMIT 5;
SELECT name, rank FROM (SELECT name, rank() OVER (PARTITION BY grp ORDER BY price DESC, id) AS rank FROM item) WHERE rank = 1 ORDER BY name LIMIT 5;
SELECT count(*), sum(length(group_concat)) FROM (SELECT item, group_concat(note, '|') AS group_concat FROM sale GROUP BY item);
UPDATE item SET name = name || '-' || upper(substr(name, 6, 3)) WHERE id % 3 = 0;
DELETE FROM sale WHERE qty > 6;
SELECT count(*), sum(qty) FROM sale;
SELECT json_group_array(json_object('id', id, 'n', name)) IS NOT NULL, count(*) FROM item WHERE id % 50 = 0;
CREATE TABLE summary AS SELECT item, sum(qty) AS q, max(note) AS m FROM sale GROUP BY item ORDER BY q DESC;
SELECT count(*), sum(q), min(m), max(m) FROM summary;
SELECT sum(length(name)), count(*) FROM item WHERE name LIKE '%-1%';
DROP INDEX item_name;
CREATE INDEX item_name2 ON item(name DESC, price);
SELECT name FROM item ORDER BY name DESC, price LIMIT 3;
VACUUM;
.print done
