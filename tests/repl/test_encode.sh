#!/usr/bin/env bash
# `lctw encode DIR out.npy`: a folder of images becomes a latent .npy; bad folders give clear errors.
cd "$(dirname "$0")/../.."
LCTW=${LCTW:-bin/lctw}
name=test_encode.sh
enc=../shared/data/taesd/sd1_vaelight_encoder.safetensors
dec=../shared/data/taesd/sd1_vaelight_decoder.safetensors
if [ ! -f "$enc" ] || [ ! -f ../shared/data/utkface_sd1_latents_4x32x32.npy ]; then
  echo "SKIP $name: encode: ../shared/data is absent"; exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/imgs" "$tmp/empty" "$tmp/mixed"
"$LCTW" -e "
  local v = lctw.vae.load('$dec')
  local z = lctw.npy.load('../shared/data/utkface_sd1_latents_4x32x32.npy'):narrow(1, 1, 3)
  local im = v:decode(z)
  for i = 1, 3 do lctw.image.save_grid(im:narrow(1, i, 1), '$tmp/imgs/f' .. i .. '.png', {nrow = 1, pad = 0}) end
  lctw.image.save_grid(im:narrow(1, 1, 2), '$tmp/mixed/a.png', {nrow = 1, pad = 0})
  lctw.image.save_grid(im:narrow(1, 1, 1), '$tmp/mixed/b.png', {nrow = 1, pad = 0})" >/dev/null 2>&1
echo "not an image" > "$tmp/imgs/notes.txt"
out=$("$LCTW" encode "$tmp/imgs" "$tmp/z.npy" --encoder "$enc" 2>&1)
shape=$("$LCTW" -e "print(table.concat(lctw.npy.load('$tmp/z.npy'):shape(), 'x'))" 2>&1)
if [ "$shape" = "3x4x32x32" ] && [ "$(wc -l < "$tmp/z.npy.txt")" = 3 ]; then
  echo "PASS $name: encode 3 images -> $shape latents (+ file order)"
else
  echo "FAIL $name: encode: $out / shape $shape"
fi
check_err() { # case, expected text, args...
  local c=$1 want=$2; shift 2
  local o; o=$("$LCTW" encode "$@" 2>&1); local rc=$?
  if [ $rc -ne 0 ] && echo "$o" | grep -qF "$want"; then echo "PASS $name: $c"
  else echo "FAIL $name: $c: exit $rc, output: $(echo "$o" | head -2 | tr '\n' ' ')"; fi
}
check_err "empty folder" "no .png/.jpg/.jpeg images" "$tmp/empty" "$tmp/e.npy" --encoder "$enc"
check_err "mixed sizes" "all images must have one size" "$tmp/mixed" "$tmp/m.npy" --encoder "$enc"
echo "garbage" > "$tmp/imgs/f4.png"
check_err "not an image" "f4.png" "$tmp/imgs" "$tmp/g.npy" --encoder "$enc"
check_err "decoder given as encoder" "is a decoder" "$tmp/imgs" "$tmp/d.npy" --encoder "$dec"
check_err "missing folder" "cannot list" "$tmp/nope" "$tmp/n.npy" --encoder "$enc"
