# Shared by the scripts: run from the repository root, with the pinned npm tools first on PATH
# (binaryen's wasm-opt must win over any older one on the system).
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PATH="$PWD/end2end/node_modules/.bin:$HOME/.cargo/bin:$PATH"
log() { printf '\033[1;34m[%s]\033[0m %s\n' "$(basename "$0")" "$*" >&2; }
