-- test_json.lua — lctw.json: decode/encode round trips, the value mapping (integers, null,
-- empty arrays), malformed input with the error position, nesting limits, big numbers, unicode
-- escapes, and values encode must refuse (with the path of the bad value).
local T = dofile("tests/lua/harness.lua")
local json = lctw.json

-- deep equality for decoded values (tables compared key by key, numbers by type and value)
local function same(a, b, path)
  path = path or "$"
  if type(a) ~= type(b) then error(string.format("%s: %s vs %s", path, type(a), type(b)), 0) end
  if type(a) == "number" then
    if math.type(a) ~= math.type(b) or a ~= b then
      error(string.format("%s: %s (%s) vs %s (%s)", path, tostring(a), math.type(a), tostring(b),
                          math.type(b)), 0)
    end
  elseif type(a) == "table" then
    for k, v in pairs(a) do same(v, b[k], path .. "." .. tostring(k)) end
    for k in pairs(b) do
      if a[k] == nil then error(path .. ": extra key " .. tostring(k), 0) end
    end
  elseif a ~= b then
    error(string.format("%s: %q vs %q", path, tostring(a), tostring(b)), 0)
  end
end

T.case("scalars decode to Lua values of the right type", function()
  T.eq(json.decode("true"), true)
  T.eq(json.decode(" false "), false)
  T.eq(json.decode("null"), json.null, "null at top level")
  T.eq(math.type(json.decode("42")), "integer")
  T.eq(json.decode("-17"), -17)
  T.eq(math.type(json.decode("2.0")), "float", "2.0 stays a float")
  T.eq(math.type(json.decode("1e3")), "float")
  T.eq(json.decode("1e3"), 1000.0)
  T.eq(json.decode("\"a\\tb\""), "a\tb")
  T.eq(tostring(json.null), "null")
end)

T.case("objects, arrays and null", function()
  local v = json.decode('{"a": [1, null, {"b": null, "c": "x"}], "e": {}, "f": []}')
  T.eq(v.a[1], 1)
  T.eq(v.a[2], json.null, "null inside an array keeps its place")
  T.eq(#v.a, 3)
  T.eq(v.a[3].b, nil, "null inside an object is an absent key")
  T.eq(v.a[3].c, "x")
  T.ok(json.is_array(v.a) and json.is_array(v.f), "arrays are marked")
  T.ok(not json.is_array(v.e), "objects are not marked")
  local k = json.decode('{"b": null}', {keep_null = true})
  T.eq(k.b, json.null, "keep_null")
  T.errors(function() json.null.x = 1 end, "constant")
end)

T.case("round trips: decode(encode(v)) == v and encode is canonical", function()
  local docs = {
    '{"a":1,"b":[1,2,3],"c":[],"d":{},"e":"x\\n\\u00e9","f":1.5,"g":null,"h":true}',
    '[[],[[]],{},[{}],[null,null],-0.5,1e-300,123456789012345]',
    '{"loss":0.12345678901234566,"step":7,"N":11,"lr":0.0001,"skipped":false}',
    '"\\u0000 and \\u001f"',
  }
  for _, d in ipairs(docs) do
    local v = json.decode(d)
    local txt = json.encode(v)
    same(json.decode(txt), v)
    T.eq(json.encode(json.decode(txt)), txt, "encode is stable")
  end
  -- the first one is written back with keys sorted, shortest numbers, raw UTF-8 (and without
  -- "g": null is an absent key once decoded)
  T.eq(json.encode(json.decode(docs[1])),
       '{"a":1,"b":[1,2,3],"c":[],"d":{},"e":"x\\né","f":1.5,"h":true}')
  T.eq(json.encode(json.decode('{"g":null}', {keep_null = true})), '{"g":null}', "keep_null")
  -- floats: the shortest text that reads back exactly
  for _, x in ipairs{0.1, 1 / 3, 1e300, -2.5e-308, 123.456, 2 ^ 60 + 0.0} do
    T.eq(json.decode(json.encode(x)), x, "float " .. tostring(x))
  end
  T.eq(json.encode(2.0), "2", "integral floats have no fraction")
  T.eq(json.encode({z = 1, a = 2, m = {y = 1, b = 2}}), '{"a":2,"m":{"b":2,"y":1},"z":1}')
  T.eq(json.encode(json.array()), "[]")
  T.eq(json.encode({}), "{}")
  T.eq(json.encode(nil), "null")
  T.eq(json.encode({1, 2}, {indent = 2}), "[\n  1,\n  2\n]")
end)

T.case("malformed input: errors name byte, line and column", function()
  local cases = {
    {'{"a": 1,}', "byte 8 (line 1, column 9)", "expected a string key"},
    {'[1, 2', "byte 5", "expected ',' or ']'"},
    {'{"a":\n  tru}', "byte 8 (line 2, column 3)", "invalid literal"},
    {'"abc', "byte 0", "unterminated string"},
    {'01', "byte 0", "leading zeros"},
    {'NaN', "byte 0", "expected a value"},
    {'{"a":1}{', "byte 7", "after the JSON value"},
    {'{"a":1,"a":2}', "byte 11", "duplicate key"},
    {'"\\x"', "byte 1", "invalid escape"},
    {'"\xff"', "byte 1", "invalid UTF-8"},
    {'', "byte 0", "unexpected end of input"},
    {'[1e999]', "byte 1", "out of range"},
  }
  for _, c in ipairs(cases) do
    local err = T.errors(function() json.decode(c[1]) end, c[2], "decode " .. c[1])
    T.ok(err:find(c[3], 1, true), "%q: %s lacks %q", c[1], err, c[3])
    T.ok(err:find("lctw.json.decode:", 1, true), "names the function: %s", err)
  end
  T.errors(function() json.decode({}) end, "string expected")
  T.errors(function() json.decode("1", {max_depht = 3}) end, "max_depht")
end)

T.case("nesting limits", function()
  local deep = string.rep("[", 64) .. string.rep("]", 64)
  T.ok(json.decode(deep), "64 levels (the default limit)")
  T.errors(function() json.decode(string.rep("[", 65) .. string.rep("]", 65)) end,
           "nesting deeper than 64 levels")
  T.errors(function() json.decode("[[[1]]]", {max_depth = 2}) end, "nesting deeper than 2")
  local v = json.decode(string.rep("[", 500) .. string.rep("]", 500), {max_depth = 1000})
  local d = 0
  while type(v) == "table" and v[1] do v, d = v[1], d + 1 end
  T.eq(d, 499, "500 levels decoded")
  T.errors(function() json.decode("1", {max_depth = 0}) end, "max_depth")
  -- hostile: a million opening brackets fails cleanly at the limit
  T.errors(function() json.decode(string.rep("[", 1000000)) end, "nesting deeper")
  local t = {}
  local cur = t
  for _ = 1, 200 do cur[1] = {} cur = cur[1] end
  T.errors(function() json.encode(t) end, "nested deeper than 128 levels")
end)

T.case("big numbers", function()
  T.eq(json.decode("9223372036854775807"), math.maxinteger)
  T.eq(json.decode("-9223372036854775808"), math.mininteger)
  local big = json.decode("9223372036854775808")
  T.eq(math.type(big), "float", "2^63 does not fit in an integer")
  T.eq(big, 2.0 ^ 63)
  T.eq(json.decode("123456789012345678901234567890"), 1.2345678901234568e29)
  T.eq(json.encode(math.maxinteger), "9223372036854775807")
  T.eq(json.encode(math.mininteger), "-9223372036854775808")
  T.eq(json.decode("1.7976931348623157e308"), 1.7976931348623157e308)
  T.eq(json.decode("4.9e-324"), 4.9e-324, "smallest subnormal")
  local z = json.decode("-0.0")
  T.ok(z == 0 and 1 / z < 0, "-0.0 keeps its sign")
  T.ok(1 / json.decode("-0") < 0, "-0 keeps its sign")
end)

T.case("unicode escapes", function()
  T.eq(json.decode('"\\u00e9\\u4e2d"'), "é中")
  T.eq(json.decode('"\\ud83d\\ude00"'), "😀", "surrogate pair")
  T.eq(json.decode('"\\u0041\\u005A"'), "AZ")
  T.eq(json.decode('"a\\u0000b"'), "a\0b", "NUL inside a string")
  T.errors(function() json.decode('"\\ud83d"') end, "not followed by a low surrogate")
  T.errors(function() json.decode('"\\ude00"') end, "lone low surrogate")
  T.errors(function() json.decode('"\\u12g4"') end, "four hex digits")
  T.eq(json.encode("😀\0\1"), '"😀\\u0000\\u0001"', "raw UTF-8 out, control characters escaped")
  T.eq(json.decode(json.encode("é\"\\/")), "é\"\\/")
end)

T.case("encode refuses what JSON cannot hold, naming the place", function()
  local function bad(v, what, where)
    local err = T.errors(function() json.encode(v) end, what)
    T.ok(err:find("at " .. where, 1, true), "%s: no 'at %s'", err, where)
  end
  bad({a = {b = {1, 2, 0 / 0}}}, "NaN", "$.a.b[3]")
  bad({x = {1 / 0}}, "infinity", "$.x[1]")
  bad({f = print}, "function cannot be written", "$.f")
  bad({1, 2, x = 3}, "key 1 (a number)", "$")
  bad({[true] = 1}, "key of type boolean", "$")
  bad({[1.5] = 1}, "key 1.5", "$")
  bad({s = "\xff"}, "not valid UTF-8", "$.s")
  bad({["\xfe"] = 1}, "the key is not valid UTF-8", "$")
  bad(json.array({x = 1}), "keys other than 1..n", "$")
  local t = {} t.self = {t}
  bad(t, "reference cycle", "$.self[1]")
  bad(io.stdout, "userdata cannot be written", "$")
  T.errors(function() json.encode(1, {indent = 99}) end, "indent")
  -- the same table twice (not a cycle) is fine
  local s = {1}
  T.eq(json.encode({s, s}), "[[1],[1]]")
  -- raw access only: __index and __pairs are not consulted
  local p = setmetatable({a = 1}, {__index = function() error("ran __index") end,
                                    __pairs = function() error("ran __pairs") end})
  T.eq(json.encode(p), '{"a":1}')
end)

T.case("metrics.jsonl lines decode to what the trainer wrote", function()
  local dir = os.tmpname()
  os.remove(dir)
  T.ok(os.execute("mkdir -p '" .. dir .. "'"), "mkdir")
  local m = lctw.model.unet{channels = 16, channel_mult = {1, 2}, num_blocks = 1,
                            attn_resolutions = {4}, channels_per_head = 16, in_shape = {4, 8, 8},
                            seed = 1}
  local d = lctw.data.synthetic{n = 32, shape = {4, 8, 8}, seed = 2}
  local tr = lctw.trainer{model = m, data = d, batch = 4, total_steps = 10, seed = 3, s0 = 2,
                          s1 = 8, run_dir = dir}
  local last = tr:run{steps = 3, quiet = true}
  local f = assert(io.open(dir .. "/metrics.jsonl"))
  local lines = {}
  for l in f:lines() do lines[#lines + 1] = json.decode(l) end
  f:close()
  os.execute("rm -rf '" .. dir .. "'")
  T.eq(#lines, 3)
  local got = lines[3]
  T.eq(math.type(got.step), "integer")
  T.eq(got.step, last.step)
  T.eq(got.N, last.N)
  T.near(got.loss, last.loss, 0, 1e-12, "loss")
  T.near(got.lr, last.lr, 0, 1e-12, "lr")
  T.eq(got.skipped, false)
end)

T.case("help texts", function()
  for _, k in ipairs{"decode", "encode", "array", "is_array"} do
    T.ok(lctw._help_of(json[k]), "help of lctw.json.%s", k)
  end
  T.ok(lctw._help_of(json), "help of lctw.json")
  T.ok(lctw._help_of(json.null), "help of lctw.json.null")
end)

T.done()
