#!/bin/busybox sh
# PID 1 of the vmtest guest (generated into the initramfs by internal/vm).
# Loads the modules listed in /modules.order, mounts the host root (9p tag
# "hostroot", read-only) at /newroot and the run's work directory (9p tag
# "work", read-write) at /newroot/run/vmtest, then runs
# /run/vmtest/run.sh inside a chroot of the host root. The exit status is
# printed as "VMTEST_RC=<n>" on the console for the host to pick up.
/bin/busybox mkdir -p /proc /sys /dev /tmp /run
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
/bin/busybox mount -t devtmpfs devtmpfs /dev
/bin/busybox --install -s /bin
export PATH=/bin
for m in $(cat /modules.order); do
	insmod /lib/modules/$m.ko || echo "vmtest: insmod $m failed"
done
# Loopback is down at boot; tests that listen on 127.0.0.1 need it.
ip link set lo up || echo "vmtest: lo up failed"
rc=0
R=/newroot
mount -t 9p -o ro,trans=virtio,version=9p2000.L,msize=262144,cache=loose hostroot $R || rc=90
if [ $rc = 0 ]; then
	mount -t proc proc $R/proc
	mount -t sysfs sysfs $R/sys
	mount -t devtmpfs devtmpfs $R/dev
	mount -t tmpfs -o mode=1777 tmpfs $R/tmp
	mount -t tmpfs -o mode=755 tmpfs $R/run
	[ -d $R/var/tmp ] && mount -t tmpfs -o mode=1777 tmpfs $R/var/tmp
	# The tmpfs mounts hide host directories (a checkout under /tmp): the
	# plain host root stays reachable, read-only, at /run/host.
	mkdir -p $R/run/host $R/run/vmtest
	mount -o bind $R $R/run/host
	mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 work $R/run/vmtest || rc=91
fi
if [ $rc = 0 ]; then
	echo "vmtest: guest ready at $(cut -d' ' -f1 /proc/uptime)s"
	chroot $R /bin/sh /run/vmtest/run.sh
	rc=$?
	sync
	umount $R/run/vmtest
fi
echo "VMTEST_RC=$rc"
poweroff -f
