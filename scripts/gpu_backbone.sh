#!/usr/bin/env bash
# Train expr-cnn candidates on a lent GPU in one device call (issue 17): ensemble members
# of two widths with mixup / cutmix, then a default-width student distilled from all of
# them. Selection (PublicTest), PrivateTest, ONNX, int8, timing and the cards happen back
# here on the CPU, where the per-face cost targets are measured.
#
# Before the calls, here (once):
#   .venv/bin/python scripts/device_fer_data.py split ../shared/data/fer2013/fer2013.npz .device-data
# Device calls, back to back while the machine stays warm (parts left by one call stay for the
# next; a machine that went back starts bare, and join then names what is missing):
#   run(command="ls .device-data", carry=[".device-data/parts.json", ".device-data/part1.npz"])
#   run(command="ls .device-data", carry=[".device-data/parts.json", ".device-data/part2.npz"])  ...
#   run(command="bash scripts/gpu_backbone.sh", carry=[".device-data/parts.json", <the last part(s)>],
#       timeout_s=600)
# Back here, with the fetched files in FETCHED:
#   .venv/bin/python scripts/device_fer_data.py unpack FETCHED runs/gpu
#   affectstream train-fer --choose-members runs/gpu/member*/ --max-ms 5 --out runs/gpu   (PublicTest; prints the next step)
#   affectstream train-fer --ensemble <the chosen runs> --out runs/gpu-ens --flip-tta --int8 --export-dir ...
#   affectstream train-fer --out runs/gpu/student --finalize-only --flip-tta --int8 --export-dir ...
#
# What comes back is copied as soon as it exists (each member when it ends, the logs before
# the student starts), so a call that runs out of time still returns the finished members.
# Everything below can be shrunk for a smoke run on a CPU (tests/test_device_scripts.py does).
set -uo pipefail

DATA_PARTS=${DATA_PARTS:-.device-data}
OUT=${OUT:?OUT must name the folder whose files come back (the device tool sets it)}
WORK=${WORK:-/tmp/fer-gpu}
DEVICE=${DEVICE:-cuda}
DEADLINE_S=${DEADLINE_S:-570}  # the student is stopped this many seconds after the start (a call may run 600)
MEMBER_MINUTES=${MEMBER_MINUTES:-4}
STUDENT_MINUTES=${STUDENT_MINUTES:-2.5}
EPOCHS=${EPOCHS:-400}          # an upper bound: the budget anneals the schedule and stops each run
BATCH=${BATCH:-256}
LR=${LR:-0.1}                  # 0.05 at batch 128 on the CPU, scaled with the batch
BASE=${BASE:-32,64,128,256}    # expr-cnn-fast's widths: the student keeps its cost per face
WIDE=${WIDE:-48,96,192,384}
# The teacher answers every view the student trains on (train-fer --consistent-teacher): on the CPU this
# beat fixed targets by 0.75 points of PublicTest at the same start and budget. 0: fixed targets.
CONSISTENT=${CONSISTENT:-1}
# shape:seed:mixing per member. At most 6, so that members, student and the logs make 8 files
# back; six members of which three wide, plus the student, come to about 50 of the 64 MiB.
MEMBERS=${MEMBERS:-"base:10:cutmix base:11:mixup base:12:cutmix wide:13:cutmix wide:14:mixup wide:15:cutmix"}
EXTRA=${EXTRA:-}               # more train-fer options for every run (smoke runs: --limit-train N --limit-eval N)
PY=${PY:-python3}

read -r -a specs <<<"$MEMBERS"
if [ "${#specs[@]}" -lt 2 ] || [ "${#specs[@]}" -gt 6 ]; then
    echo "MEMBERS must list 2 to 6 members, got ${#specs[@]}"; exit 2
fi
for spec in "${specs[@]}"; do
    IFS=: read -r shape seed mix <<<"$spec"
    case "$shape:$mix" in
        base:none | base:mixup | base:cutmix | wide:none | wide:mixup | wide:cutmix) ;;
        *) echo "member '$spec': expected base|wide:SEED:none|mixup|cutmix"; exit 2 ;;
    esac
    [[ "$seed" =~ ^[0-9]+$ ]] || { echo "member '$spec': the seed must be a number"; exit 2; }
done

export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
# A fresh folder for this call's runs: a warm machine keeps /tmp, and an earlier call's runs
# must neither be resumed under other options nor be sent back as this call's.
RUNS="$WORK/runs-$(date +%Y%m%d-%H%M%S)-$$"
mkdir -p "$RUNS" "$OUT"
"$PY" scripts/device_fer_data.py join "$DATA_PARTS" "$WORK/fer2013.npz" || exit 2
if [ "$DEVICE" = cuda ]; then nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true; fi

# shellcheck disable=SC2206  # EXTRA is a list of options
TRAIN=("$PY" -m affectstream.cli train-fer --data "$WORK/fer2013.npz" --device "$DEVICE" --no-finalize --no-progress
       --batch-size "$BATCH" --lr "$LR" --epochs "$EPOCHS" $EXTRA)

send_logs() {
    # Histories, configs, curves and logs of every run so far (weights travel as their own files).
    (cd "$RUNS" && tar czf "$OUT/runs.tar.gz.tmp" --exclude='*.safetensors' --exclude='*.pt' --exclude='*.npz' . \
        && mv "$OUT/runs.tar.gz.tmp" "$OUT/runs.tar.gz")
}

pids=()
for k in "${!specs[@]}"; do
    IFS=: read -r shape seed mix <<<"${specs[$k]}"
    widths=$BASE
    [ "$shape" = wide ] && widths=$WIDE
    name="member$((k + 1))"
    "${TRAIN[@]}" --out "$RUNS/$name" --seed "$seed" --widths "$widths" --mix "$mix" --budget-minutes "$MEMBER_MINUTES" \
        >"$RUNS/$name.log" 2>&1 &
    pids+=($!)
done
done_runs=()
for k in "${!pids[@]}"; do
    name="member$((k + 1))"
    if wait "${pids[$k]}" && [ -f "$RUNS/$name/best.safetensors" ]; then
        done_runs+=("$RUNS/$name")
        cp "$RUNS/$name/best.safetensors" "$OUT/$name.safetensors"
        echo "$name (${specs[$k]}): $(tail -n 1 "$RUNS/$name.log")"
    else
        echo "$name (${specs[$k]}) failed; the end of its log:"
        tail -n 5 "$RUNS/$name.log"
    fi
done
send_logs

student_ok=0
CONSISTENT_FLAG=()
[ "$CONSISTENT" = 1 ] && CONSISTENT_FLAG=(--consistent-teacher)
if [ "${#done_runs[@]}" -lt 2 ]; then
    echo "fewer than two members finished: no teacher, no student"
elif ! "${TRAIN[@]}" --out "$RUNS/teacher" --ensemble "${done_runs[@]}" >"$RUNS/teacher.log" 2>&1; then
    echo "the teacher ensemble could not be made; the end of its log:"
    tail -n 5 "$RUNS/teacher.log"
else
    left=$((DEADLINE_S - SECONDS))
    if [ "$left" -lt 30 ]; then
        echo "only ${left} s left before the deadline: no student"
    elif timeout "$left" "${TRAIN[@]}" --out "$RUNS/student" --teacher "$RUNS/teacher/best.safetensors" --widths "$BASE" --mix cutmix \
            --seed 20 --budget-minutes "$STUDENT_MINUTES" ${CONSISTENT_FLAG[@]+"${CONSISTENT_FLAG[@]}"} >"$RUNS/student.log" 2>&1 \
            && [ -f "$RUNS/student/best.safetensors" ]; then
        cp "$RUNS/student/best.safetensors" "$OUT/student.safetensors"
        student_ok=1
        echo "student (distilled from ${#done_runs[@]} members): $(tail -n 1 "$RUNS/student.log")"
    else
        echo "the student failed or ran out of time; the end of its log:"
        tail -n 5 "$RUNS/student.log"
    fi
fi
send_logs
ls -la "$OUT"
echo "$((SECONDS)) s in all"
[ "${#done_runs[@]}" -eq "${#specs[@]}" ] && [ "$student_ok" -eq 1 ]
