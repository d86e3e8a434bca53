-- lctw.init — the Lua side of the lctw library, loaded at start-up (embedded in the binary).
-- Adds help(), and anything written in Lua on top of the C modules.
local lctw = lctw

local function first_line(s) return (s or ""):match("^[^\n]*") end

-- help(x): the help text of an lctw function, module or object.
function help(x)
  if x == nil then
    print([[lctw — latent consistency training workbench

  help(x), ?x      help on a function, module or object (e.g. help(lctw.tensor.zeros))
  lctw.tensor      tensors: zeros, ones, randn, from, ... (help(lctw.tensor))
  lctw.npy         load/save .npy files
  lctw.cuda        CUDA device queries
  In the REPL: an expression prints its value (=expr too), a trailing ; hides it;
  Tab completes names, fields and methods; Up/Down and Ctrl-R search the history
  (~/.lctw_history or $LCTW_HISTORY); ~/.lctwrc.lua (or $LCTW_RC) runs at start.
  Ctrl-C stops running code (press it twice for code that catches errors), Ctrl-D exits.]])
    return
  end
  local text = lctw._help_of(x)
  if type(x) == "table" and getmetatable(x) == nil then
    local names = {}
    for k, v in pairs(x) do
      if type(k) == "string" and k:sub(1, 1) ~= "_" then names[#names + 1] = k end
    end
    table.sort(names)
    local out = {}
    if text then out[#out + 1] = text .. "\n" end
    for _, k in ipairs(names) do
      local h = lctw._help_of(x[k])
      out[#out + 1] = string.format("  %-18s %s", k, h and first_line(h) or type(x[k]))
    end
    print(table.concat(out, "\n"))
    return
  end
  if text then
    print(text)
    local mt = getmetatable(x)
    if type(mt) == "table" and type(mt.__index) == "table" and type(x) ~= "table" then
      local names = {}
      for k in pairs(mt.__index) do
        if type(k) == "string" and k:sub(1, 1) ~= "_" then names[#names + 1] = k end
      end
      table.sort(names)
      if #names > 0 then print("\nmethods: " .. table.concat(names, ", ")) end
    end
  else
    print(require("lctw.repl").describe(x) or ("no help for this " .. type(x)))
  end
end
lctw._set_help(help, "help(x)\n\nShows the help text of an lctw function, module or object. In the REPL, ?x does the same.")

require "lctw.tensor"
require "lctw.trainer"
require "lctw.attach" -- lctw.dash.attach

return lctw
