#!/bin/bash
# Formats the instance's local NVMe drives (RAID 0 across them when there are
# several) and mounts the result at $1, for NativeLink's work directory and
# its local CAS. Instance storage is empty at every launch.
set -euo pipefail
mnt=$1
mapfile -t disks < <(
  find /dev/disk/by-id -name 'nvme-Amazon_EC2_NVMe_Instance_Storage_*' ! -name '*-part*' \
    -exec readlink -f {} \; | sort -u
)
if [ "${#disks[@]}" -eq 0 ]; then
  echo "setup-nvme: this instance type has no NVMe instance storage" >&2
  exit 1
elif [ "${#disks[@]}" -eq 1 ]; then
  dev=${disks[0]}
else
  mdadm --create /dev/md0 --run --force --level=0 --raid-devices="${#disks[@]}" "${disks[@]}"
  dev=/dev/md0
fi
mkfs.xfs -f "$dev"
mkdir -p "$mnt"
mount -o noatime "$dev" "$mnt"
