#!/usr/bin/env bash
# Train expr-cnn candidates on a lent GPU in one device call (issue 17): ensemble members
# of two widths with mixup / cutmix, then a default-width student distilled from all of
# them. Selection (PublicTest), PrivateTest, ONNX, int8, timing and the cards happen back
# here on the CPU, where the per-face cost targets are measured.
#
# Before the call, here (once):
#   .venv/bin/python scripts/device_fer_data.py split ../shared/data/fer2013/fer2013.npz .device-data
# Device calls, back to back while the machine stays warm (parts left by one call stay for the next):
#   run(command="ls .device-data", carry=[".device-data/parts.json", ".device-data/part1.npz"])
#   run(command="ls .device-data", carry=[".device-data/part2.npz"])   ... one part per call
#   run(command="bash scripts/gpu_backbone.sh", carry=[<the last part(s)>], timeout_s=600)
# Back here, with the fetched files in FETCHED:
#   .venv/bin/python scripts/device_fer_data.py unpack FETCHED runs/gpu
#   affectstream train-fer --ensemble runs/gpu/member1 ... --out runs/gpu-ens --flip-tta --int8 --export-dir ...
#
# Everything below can be shrunk for a smoke run on a CPU (tests/test_device_scripts.py does).
set -uo pipefail

DATA_PARTS=${DATA_PARTS:-.device-data}
OUT=${OUT:?OUT must name the folder whose files come back (the device tool sets it)}
WORK=${WORK:-/tmp/fer-gpu}
DEVICE=${DEVICE:-cuda}
MEMBER_MINUTES=${MEMBER_MINUTES:-4}
STUDENT_MINUTES=${STUDENT_MINUTES:-2.5}
EPOCHS=${EPOCHS:-400}          # an upper bound: the budget anneals the schedule and stops each run
BATCH=${BATCH:-256}
LR=${LR:-0.1}                  # 0.05 at batch 128 on the CPU, scaled with the batch
BASE=${BASE:-32,64,128,256}    # expr-cnn-fast's widths: the student keeps its cost per face
WIDE=${WIDE:-48,96,192,384}
# shape:seed:mixing per member; at most 7 members, so that members, student and logs make 8 files back.
MEMBERS=${MEMBERS:-"base:10:cutmix base:11:mixup base:12:cutmix wide:13:cutmix wide:14:mixup wide:15:cutmix"}
EXTRA=${EXTRA:-}               # more train-fer options for every run (smoke runs: --limit-train N --limit-eval N)
PY=${PY:-python3}

export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
mkdir -p "$WORK" "$OUT"
"$PY" scripts/device_fer_data.py join "$DATA_PARTS" "$WORK/fer2013.npz" || exit 2
if [ "$DEVICE" = cuda ]; then nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true; fi

train_fer() {
    # shellcheck disable=SC2086  # EXTRA is a list of options
    "$PY" -m affectstream.cli train-fer --data "$WORK/fer2013.npz" --device "$DEVICE" --no-finalize --no-progress \
        --batch-size "$BATCH" --lr "$LR" --epochs "$EPOCHS" $EXTRA "$@"
}

pids=() runs=() specs=()
k=0
for spec in $MEMBERS; do
    IFS=: read -r shape seed mix <<<"$spec"
    widths=$BASE
    [ "$shape" = wide ] && widths=$WIDE
    k=$((k + 1))
    run="$WORK/member$k"
    train_fer --out "$run" --seed "$seed" --widths "$widths" --mix "$mix" --budget-minutes "$MEMBER_MINUTES" \
        >"$WORK/member$k.log" 2>&1 &
    pids+=($!) runs+=("$run") specs+=("$spec")
done
done_runs=()
for i in "${!pids[@]}"; do
    if wait "${pids[$i]}" && [ -f "${runs[$i]}/best.safetensors" ]; then
        done_runs+=("${runs[$i]}")
        echo "member $((i + 1)) (${specs[$i]}): $(tail -n 1 "$WORK/member$((i + 1)).log")"
    else
        echo "member $((i + 1)) (${specs[$i]}) failed; the end of its log:"
        tail -n 5 "$WORK/member$((i + 1)).log"
    fi
done

if [ "${#done_runs[@]}" -ge 2 ]; then
    train_fer --out "$WORK/teacher" --ensemble "${done_runs[@]}" >"$WORK/teacher.log" 2>&1 \
        && train_fer --out "$WORK/student" --teacher "$WORK/teacher/best.safetensors" --widths "$BASE" \
            --mix cutmix --seed 20 --budget-minutes "$STUDENT_MINUTES" >"$WORK/student.log" 2>&1
    echo "student (distilled from ${#done_runs[@]} members): $(tail -n 1 "$WORK/student.log")"
else
    echo "fewer than two members finished: no teacher, no student"
fi

# Back: each run's best weights as <run>.safetensors, and one archive of histories, configs, curves and logs.
for run in "${done_runs[@]}" "$WORK/student"; do
    [ -f "$run/best.safetensors" ] && cp "$run/best.safetensors" "$OUT/$(basename "$run").safetensors"
done
(cd "$WORK" && tar czf "$OUT/runs.tar.gz" --exclude='*.safetensors' --exclude='*.pt' --exclude='*.npz' \
    ./member* ./student* ./teacher* 2>/dev/null)
ls -la "$OUT"
[ "${#done_runs[@]}" -eq "$k" ] && [ -f "$OUT/student.safetensors" ]
