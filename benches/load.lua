-- wrk script of benches/load.sh: each thread sends its share of the postback paths in
-- POSTBACK_FILE (one per line, each a valid postback of its own order and click), in
-- order, wrapping around (a second pass is answered as replays) when the run outlasts
-- the file.
local file = os.getenv("POSTBACK_FILE")
local threads = tonumber(os.getenv("WRK_THREADS") or "2")
local next_thread = 0
local paths = {}
local position = 1

function setup(thread)
  thread:set("thread_index", next_thread)
  next_thread = next_thread + 1
end

function init(args)
  local line_number = 0
  for line in io.lines(file) do
    if line_number % threads == thread_index then
      paths[#paths + 1] = line
    end
    line_number = line_number + 1
  end
  if #paths == 0 then
    error("no postback paths for thread " .. tostring(thread_index) .. " of " .. tostring(threads)
      .. " in " .. tostring(file) .. " (" .. line_number .. " lines)")
  end
end

function request()
  local path = paths[position]
  position = position + 1
  if position > #paths then
    position = 1
  end
  return wrk.format("GET", path)
end
