# Sourced by the other scripts (". scripts/node.sh"): puts a Node.js that
# fits the project first on PATH. The pinned packages ask for Node >= 22
# (supabase-js 2.119, react-router 7, Vite 8); where the machine's own Node
# is older (Debian 12 ships 18), the binary comes from the npm registry, as
# the package node-linux-<arch> pinned by tools/node/package-lock.json, and
# lives in tools/node/node_modules. Nothing is downloaded from anywhere else.
# The machine's npm is kept: it is a script, and runs on the Node found first.
tc_node_major() { "${1:-node}" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }
tc_node_need=22
if [ "$(tc_node_major)" -lt "$tc_node_need" ]; then
  tc_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  case "$(uname -m)" in aarch64 | arm64) tc_arch=arm64 ;; *) tc_arch=x64 ;; esac
  tc_bin="$tc_root/tools/node/node_modules/node-linux-$tc_arch/bin"
  if [ "$(tc_node_major "$tc_bin/node")" -lt "$tc_node_need" ]; then
    echo "node: the machine's Node is $(node --version 2>/dev/null || echo missing); installing Node 22 from the npm registry into tools/node" >&2
    (cd "$tc_root/tools/node" && npm ci --no-audit --no-fund --loglevel=error >&2) || return 1
  fi
  export PATH="$tc_bin:$PATH"
  hash -r
fi
