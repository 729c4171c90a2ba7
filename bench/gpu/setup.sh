# sourced at the start of every GPU call
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl >/dev/null 2>&1 || { echo "wheel install failed"; exit 1; }
export PYTHONPATH=/tmp/site:$PWD/.gpu/site:$PWD PATH=$PWD/.gpu/bin:$PATH PYTHONUNBUFFERED=1
export FACTORY_OUTPUTS=/tmp/outputs OMP_NUM_THREADS=2 MKL_NUM_THREADS=2 YOLO_OFFLINE=1 YOLO_AUTOINSTALL=False
export YOLO_CONFIG_DIR=/tmp/yolo_cfg
mkdir -p /tmp/outputs /tmp/yolo_cfg
