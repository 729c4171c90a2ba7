#!/bin/bash
# Unpack what `bench/gpu/run_layout.sh collect` brought back (results.tgz, weights.tar.part*
# in DIR) into the checkout at ROOT (default: this one), so that the same `factory compare`
# command with `--device cpu` re-reports the finished trainings and resumes the others.
#   bash bench/gpu/unpack.sh DIR [ROOT]
set -euo pipefail
dir=$(cd "$1" && pwd)
root=${2:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$root"
# the trainings' folders; a run folder's own files (config.json, plan.json) only where it has
# none here, since a compare running here in the same run folder wrote its own
tar -xzf "$dir/results.tgz" --wildcards 'outputs/*/runs/*'
tar -xzf "$dir/results.tgz" --skip-old-files outputs
# the compare logs, beside the other benchmark logs
mkdir -p bench/results/gpu-logs && tar -xzf "$dir/results.tgz" --strip-components 2 \
    -C bench/results/gpu-logs tmp/logs
if compgen -G "$dir/weights.tar.part*" >/dev/null; then
    cat "$dir"/weights.tar.part* | tar -xvf - | sed -n 's#^\./##; s#/train/weights/last.pt$##p' \
        | sed 's/^/resumable: /'
fi
tar -tzf "$dir/results.tgz" | sed -n 's#/result.json$##p' | sed 's/^/finished: /'
