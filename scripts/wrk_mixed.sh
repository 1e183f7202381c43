# The wrk script of the mixed workloads, shared by scripts/loadtest.sh and
# scripts/replicas_load.sh (sourced): every EVERY-th request a write (an activity, then a
# key result's progress, in turn; EVERY=1: only activities; EVERY=0: no writes), the
# others next-best-actions, over the plans of KRS (lines "plan<TAB>kr") in rotation. Each
# wrk thread numbers its writes apart, so every activity is a new row.
mixed_lua() { # out krs key every
    local out=$1 krs=$2 key=$3 every=$4
    cat >"$out" <<LUA
local plans, krs = {}, {}
for line in io.lines("$krs") do
  local plan, kr = line:match("([^\t]+)\t([^\t]+)")
  plans[#plans + 1] = plan
  krs[#krs + 1] = kr
end
local counter = 0
setup = function(thread)
  counter = counter + 1
  thread:set("tid", counter)
end
local i, writes = 0, 0
local headers = { ["Authorization"] = "Bearer $key", ["Content-Type"] = "application/json" }
request = function()
  i = i + 1
  local n = (i % #plans) + 1
  if $every > 0 and i % $every == 0 then
    writes = writes + 1
    -- The written plan walks the rotation on a stride of its own: with the reads' index,
    -- every write fell on the same tenth (or hundredth) of the plans, which no read of
    -- this thread ever asked for, so no answer was recomputed after a write.
    n = ((writes * 7 + tid * 13) % #plans) + 1
    if $every == 1 or writes % 2 == 1 then
      local body = string.format('{"activity_id":"lt-%d-%d-%d","kind":"qbr","date":"2026-09-30","quantity":1}', tid, os.time(), writes)
      return wrk.format("POST", "/v1/plans/" .. plans[n] .. "/activities", headers, body)
    end
    local body = string.format('{"kr_id":"%s","as_of":"2026-09-30","realized":%d}', krs[n], writes)
    return wrk.format("POST", "/v1/bulk/kr_progress", headers, body)
  end
  return wrk.format("GET", "/v1/plans/" .. plans[n] .. "/next-best-actions?k=5", headers)
end
done = function(summary, latency, requests)
  io.write(string.format("non-2xx: %d\n", summary.errors.status))
end
LUA
}
