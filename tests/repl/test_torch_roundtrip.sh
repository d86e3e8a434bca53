#!/usr/bin/env bash
# Weights saved by lctw load into the PyTorch reference module (strict names and shapes) and give
# the same f(x, σ); weights changed and saved by PyTorch load back into lctw and give PyTorch's
# output. Needs Debian's python3-torch (/usr/bin/python3); prints SKIP without it.
cd "$(dirname "$0")/../.."
LCTW=${LCTW:-bin/lctw}
name=test_torch_roundtrip.sh
if ! /usr/bin/python3 -c "import torch" 2>/dev/null; then
  echo "SKIP $name: unet and dit round trips: python3-torch is not installed (apt-get install python3-torch)"
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for kind in unet dit; do
  case $kind in
    unet) mk='lctw.model.unet{channels=16, channel_mult={1,2}, num_blocks=1, attn_resolutions={4}, channels_per_head=8, in_shape={4,8,8}, seed=3}' ;;
    dit)  mk='lctw.model.dit{size="S", hidden=32, depth=2, heads=2, patch=2, in_shape={4,8,8}, seed=3}' ;;
  esac
  "$LCTW" -e "
    local m = $mk
    -- perturb every parameter so zero-initialised layers matter
    for _, p in ipairs(m:params()) do
      local t = m:param(p.name)
      if p.trainable then t:add_(lctw.tensor.randn(p.shape, {seed = #p.name}) * 0.05) end
    end
    m:save('$tmp/$kind.safetensors')
    local x = lctw.tensor.randn({2, 4, 8, 8}, {seed = 9})
    lctw.npy.save('$tmp/x.npy', x)
    lctw.npy.save('$tmp/$kind.y.npy', m:forward(x, 0.7))" > "$tmp/log" 2>&1 || {
    echo "FAIL $name: $kind: lctw side failed: $(tail -3 "$tmp/log" | tr '\n' ' ')"; continue; }
  out=$(/usr/bin/python3 scripts/check_torch_roundtrip.py "$tmp/$kind.safetensors" "$tmp/x.npy" 0.7 \
        "$tmp/$kind.y.npy" "$tmp/$kind.torch.safetensors" 2>&1) || {
    echo "FAIL $name: $kind: PyTorch could not load lctw's checkpoint: $(echo "$out" | tail -2 | tr '\n' ' ')"; continue; }
  e1=$(echo "$out" | sed -n 's/^forward_rel_err=//p')
  e2=$("$LCTW" -e "
    local m = lctw.model.load('$tmp/$kind.torch.safetensors')
    local x = lctw.npy.load('$tmp/x.npy')
    local y, yt = m:forward(x, 0.7), lctw.npy.load('$tmp/$kind.torch.safetensors.y.npy')
    print(string.format('%.3e', (y - yt):abs():max() / yt:abs():max()))" 2>&1) || {
    echo "FAIL $name: $kind: lctw could not load PyTorch's checkpoint: $e2"; continue; }
  if awk -v a="$e1" -v b="$e2" 'BEGIN { exit !(a < 1e-5 && b < 1e-5) }'; then
    echo "PASS $name: $kind: lctw→torch rel err $e1, torch→lctw rel err $e2"
  else
    echo "FAIL $name: $kind: lctw→torch rel err $e1, torch→lctw rel err $e2 (limit 1e-5)"
  fi
done
