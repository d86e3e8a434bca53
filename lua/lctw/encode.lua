-- lctw.encode — `lctw encode DIR out.npy [--encoder PATH] [--batch N]`: turns a folder of PNG/JPEG
-- images into a latent .npy (N×C×h×w float32, in the units of the data files: SD1 latents ×0.18215
-- for the VAElight encoder), so users can train on their own photos. Images must all have the
-- same size, a multiple of 8 (e.g. 256×256); the order is the sorted file names, written next to
-- the .npy as out.npy.txt.
local M = {}

local USAGE = [[usage: lctw encode DIR out.npy [--encoder PATH] [--batch N]
  DIR        a folder of .png/.jpg/.jpeg images, all of one size (a multiple of 8, e.g. 256x256)
  out.npy    the latents, N×C×h×w float32 (SD1 units ×0.18215 with the VAElight encoder)
  --encoder  encoder weights (default ../shared/data/taesd/sd1_vaelight_encoder.safetensors)
  --batch    images per encoder call (default 16)]]

function M.main(args)
  local dir, out, enc, batch = nil, nil, "../shared/data/taesd/sd1_vaelight_encoder.safetensors", 16
  local i = 1
  while i <= #args do
    local a = args[i]
    if a == "--encoder" then enc, i = args[i + 1], i + 1
    elseif a == "--batch" then batch, i = tonumber(args[i + 1]), i + 1
    elseif a == "-h" or a == "--help" then print(USAGE) return 0
    elseif not dir then dir = a
    elseif not out then out = a
    else error("encode: unexpected argument '" .. a .. "'\n" .. USAGE, 0) end
    i = i + 1
  end
  if not dir or not out or not enc or not batch or batch < 1 then error("encode: missing arguments\n" .. USAGE, 0) end
  local vae = lctw.vae.load(enc)
  if vae.is_decoder then error("encode: " .. enc .. " is a decoder; pass encoder weights with --encoder", 0) end
  local files = {}
  for _, name in ipairs(lctw.list_dir(dir)) do
    local ext = name:lower():match("%.(%a+)$")
    if ext == "png" or ext == "jpg" or ext == "jpeg" then files[#files + 1] = name end
  end
  if #files == 0 then error("encode: no .png/.jpg/.jpeg images in " .. dir, 0) end
  local lo, hi = vae.range[1], vae.range[2]
  local H, W, z_all = nil, nil, nil
  local n = #files
  for b0 = 1, n, batch do
    local b1 = math.min(n, b0 + batch - 1)
    local imgs
    for k = b0, b1 do
      local path = dir .. "/" .. files[k]
      local img = lctw.image.load(path) -- 3×H×W in [0, 1]
      local sh = img:shape()
      if not H then
        H, W = sh[2], sh[3]
        if H % 8 ~= 0 or W % 8 ~= 0 then
          error(string.format("encode: %s is %d×%d; sizes must be multiples of 8 (e.g. resize to 256×256)", path, W, H), 0)
        end
        imgs = nil
      elseif sh[2] ~= H or sh[3] ~= W then
        error(string.format("encode: %s is %d×%d but the first image is %d×%d; all images must have one size",
          path, sh[3], sh[2], W, H), 0)
      end
      imgs = imgs or lctw.tensor.zeros(b1 - b0 + 1, 3, H, W)
      imgs[k - b0 + 1] = img * (hi - lo) + lo
    end
    local z = vae:encode(imgs)
    if not z_all then
      local zs = z:shape()
      z_all = lctw.tensor.zeros(n, zs[2], zs[3], zs[4])
    end
    z_all:narrow(1, b0, b1 - b0 + 1):copy(z)
    io.stderr:write(string.format("\rencoded %d/%d", b1, n))
  end
  io.stderr:write("\n")
  lctw.npy.save(out, z_all)
  local f = assert(io.open(out .. ".txt", "w"))
  for _, name in ipairs(files) do f:write(name, "\n") end
  f:close()
  print(string.format("%s: %s latents from %d images in %s (order: %s.txt)", out,
    table.concat(z_all:shape(), "×"), n, dir, out))
  return 0
end

return M
