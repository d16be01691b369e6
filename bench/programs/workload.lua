-- heapshift bench, real programs: a GC-heavy workload for the stock Lua 5.4
-- interpreter (lua.exe built from Lua's own sources). Deterministic: the
-- lines it prints (checksums) must be the same in every variant.
--
-- Protocol (bench/programs.ts): the warm-up builds a live structure and
-- prints "warm"; the program then waits for a line on stdin (a late
-- takeover happens meanwhile: the structure's blocks become old blocks),
-- runs the timed phase, prints its results and "done", and waits for one
-- more line (its peak working set is read meanwhile).
local scale = tonumber(arg[1]) or 1

-- warm-up: records with strings and small tables, kept alive
local records = {}
for i = 1, math.floor(60000 * scale) do
  records[i] = { id = i, name = "record-" .. i, tags = { i % 7, i % 11, i % 13 } }
end
io.write("warm\n")
io.flush()
io.read("l")

local results = {}
local function out(k, v) results[#results + 1] = k .. "=" .. tostring(v) end

-- binary trees: the classic allocation/GC benchmark
local function bottom_up(d)
  if d == 0 then return {} end
  d = d - 1
  return { bottom_up(d), bottom_up(d) }
end
local function check(t)
  if t[1] then return 1 + check(t[1]) + check(t[2]) end
  return 1
end
local long_lived = bottom_up(14)
local nodes = 0
for d = 4, 14, 2 do
  local iters = math.floor(2 ^ (16 - d) * scale)
  for _ = 1, iters do nodes = nodes + check(bottom_up(d)) end
end
out("trees", nodes + check(long_lived))

-- the warm-up's records replaced, grown and dropped (old blocks freed,
-- reallocated: a late takeover migrates them)
local sum = 0
for round = 1, 3 do
  for i = round, #records, 3 do
    local r = records[i]
    r.name = r.name .. "/" .. round
    r.tags[#r.tags + 1] = round * i % 17
    if i % 5 == 0 then records[i] = { id = r.id, name = r.name:upper(), tags = { #r.tags } } end
    sum = sum + #records[i].name
  end
end
out("records", sum)

-- strings: building, formatting, pattern replacement, concatenation
local parts = {}
for i = 1, math.floor(120000 * scale) do
  parts[#parts + 1] = string.format("%05d:%s", i % 99991, ("x"):rep(i % 23))
end
local text = table.concat(parts, ",")
local replaced, n = text:gsub("x+", function(s) return #s end)
out("strings", #text .. "/" .. #replaced .. "/" .. n)

-- a word count over generated text (hash tables that grow and shrink)
local counts, words = {}, 0
for w in replaced:gmatch("%d+") do
  counts[w] = (counts[w] or 0) + 1
  words = words + 1
end
local distinct = 0
for _ in pairs(counts) do distinct = distinct + 1 end
out("words", words .. "/" .. distinct)

-- a sort of many small tables
local rows = {}
for i = 1, math.floor(80000 * scale) do rows[i] = { k = (i * 7919) % 100003, v = i } end
table.sort(rows, function(a, b) return a.k < b.k end)
out("sorted", rows[1].v .. "/" .. rows[#rows].v)

for _, line in ipairs(results) do print(line) end
collectgarbage()
io.write("done\n")
io.flush()
io.read("l")
