#!/usr/bin/env bash
# One GPU session (H200, 16 cores): five trainings side by side, then the held-out benchmark.
# Carry .gpu_pack (training/gpu/pack.py). Test on CPU first: DEVICE=cpu MINUTES=0.3 SMOKE=1 OUT=/tmp/o bash training/gpu/run.sh
set -u
DEVICE=${DEVICE:-cuda}; MINUTES=${MINUTES:-6}; OUT=${OUT:-out}; SMOKE=${SMOKE:-0}
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1 COLUMNS=200
P=.gpu_pack; D="--data $P/data/celeba/train --data $P/data/helen/train"
R=runs; mkdir -p $R $OUT
LITE=faceblur_cli/assets/weights/faceblur-lite.pth
AMP=$([ "$DEVICE" = cuda ] && echo --amp || echo "")
s() { [ "$SMOKE" = 1 ] && echo 3 || echo "$1"; }   # steps
fb() { python3 -m faceblur_cli "$@"; }
common="--device $DEVICE $AMP --max-minutes $MINUTES --val-images 32 --log-every 25 --ckpt-every 250 --degradation real"
nvidia-smi --query-gpu=name,memory.used --format=csv 2>/dev/null

# base: content-only fine-tune of the candidate on the real mix (issue 16)
fb train $D $common --preset base --init-from $P/faceblur-base-candidate.fp16.pth --out $R/base-real-gpu \
  --steps $(s 2500) --batch 32 --crop 160 --lr 5e-5 --lr-schedule cosine --content-loss l1 \
  --perceptual-weight 0 --adversarial-weight 0 --val-every 250 --workers 5 > $R/base.log 2>&1 &
# lite: content-only continuation at batch 32 (issue 14's remaining bars)
fb train $D $common --preset lite --refine-width 32 --init-from $LITE --out $R/lite-real3 \
  --steps $(s 4000) --batch 32 --crop 160 --lr 5e-5 --lr-schedule cosine --content-loss l1 \
  --perceptual-weight 0 --adversarial-weight 0 --val-every 500 --workers 3 > $R/lite3.log 2>&1 &
# lite-gan: balanced objective, two weightings (issue 17)
for v in "a 0.25 0.05" "b 0.5 0.15"; do set -- $v
  fb train $D $common --preset lite --refine-width 32 --init-from $LITE --out $R/lite-gan-$1 \
    --steps $(s 3000) --batch 32 --crop 160 --lr 3e-5 --lr-schedule cosine --critic-lr 1e-4 --content-loss l1 \
    --objective balanced --perceptual-weight $2 --adversarial-weight $3 --warmup-steps 200 --gan-ramp-steps 300 \
    --val-every 500 --workers 2 > $R/lite-gan-$1.log 2>&1 &
done
# paper preset from scratch with the balanced objective: the stability curve (issue 17)
fb train $D --device $DEVICE $AMP --max-minutes $MINUTES --val-images 16 --log-every 25 --ckpt-every 250 \
  --preset paper --degradation paper --out $R/paper-gan --steps $(s 1000) --batch 16 --crop 150 --lr 1e-4 \
  --objective balanced --warmup-steps 100 --gan-ramp-steps 200 --val-every 250 --workers 2 > $R/paper.log 2>&1 &
wait
nvidia-smi --query-gpu=name,memory.used --format=csv 2>/dev/null

for r in base-real-gpu lite-real3 lite-gan-a lite-gan-b; do
  half=$([ $r = base-real-gpu ] && echo --half || echo "")
  fb train --out $R/$r --export $R/$r.pth $half
done
# weights and logs into $OUT first: the benchmark below may not finish inside the call
split -b 15M $R/base-real-gpu.pth $OUT/base-real-gpu.pth.part-
cp $R/lite-real3.pth $R/lite-gan-a.pth $R/lite-gan-b.pth $OUT/
tar czf $OUT/logs.tgz --exclude='*.pt' --exclude='*.pth' $R
B="--data-root $P/data --num-images $( [ "$SMOKE" = 1 ] && echo 2 || echo 200) --protocols paper,mild,sharp --baselines blurry --device $DEVICE"
for ds in celeba helen; do  # held-out benchmark (it took > 2 min on that machine: CPU-side degradation)
  timeout 90 python3 -m faceblur_cli benchmark --dataset $ds $B -m default -m $R/base-real-gpu.pth -m $R/lite-real3.pth -m $R/lite-gan-a.pth \
    -m $R/lite-gan-b.pth -o $R/bench-$ds > $R/bench-$ds.log 2>&1
done
tar czf $OUT/logs.tgz --exclude='*.pt' --exclude='*.pth' $R
ls -la $OUT; tail -n 3 $R/*.log
