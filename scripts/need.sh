# Sourced by the check scripts: need COMMAND PACKAGE installs Debian's
# PACKAGE when COMMAND is missing (as scripts/deps.sh does for the build's
# packages), so a check runs on a fresh machine without a separate step.
need() { # command, package
  command -v "$1" >/dev/null && return 0
  echo "$(basename "$0"): installing $2" >&2
  local sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$2" >/dev/null
}

# The C files the checks cover: every one git tracks under these folders.
c_files() {
  git ls-files -- 'src/*.[ch]' 'tests/*.[ch]' 'fuzz/*.[ch]' 'bench/*.[ch]'
}
