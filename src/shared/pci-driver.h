/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "macro.h"

/* PCI devices and their drivers through sysfs below --root (ROOT/sys/bus/pci, ROOT/sys/kernel/
 * iommu_groups, ROOT/dev/vfio). Every change is read back. Addresses are normalized
 * ("0000:03:00.0"). */

bool pci_device_exists(const char *root, const char *addr);
/* The bound driver's name, or NULL (return 0) if unbound. */
int pci_device_driver(const char *root, const char *addr, char **ret);
/* driver_override, or NULL if unset ("(null)"). */
int pci_device_driver_override(const char *root, const char *addr, char **ret);
/* The IOMMU group number; -ENOENT if the device has none. */
int pci_device_iommu_group(const char *root, const char *addr, char **ret);
/* The devices in an IOMMU group, sorted. */
int pci_iommu_group_devices(const char *root, const char *group, char ***ret);
/* Whether the kernel has an IOMMU at all (ROOT/sys/kernel/iommu_groups is not empty). */
bool pci_iommu_present(const char *root);
/* The network interfaces the device provides (ROOT/sys/bus/pci/devices/ADDR/net/, and
 * ADDR/virtioN/net/ for virtio NICs). */
int pci_device_netdevs(const char *root, const char *addr, char ***ret);
/* The vfio group device of a device bound to vfio-pci: /dev/vfio/N or /dev/vfio/noiommu-N
 * (below root), whichever exists; -ENOENT if none. */
int pci_device_vfio_node(const char *root, const char *addr, char **ret);

/* Bind to driver the safe way: driver_override = driver, unbind from the current one,
 * drivers_probe; verified by reading the driver link back. -EIO if the device ends up on
 * another driver or none. */
int pci_driver_override_bind(const char *root, const char *addr, const char *driver);
/* Undo it: driver_override restored to override (NULL clears it), device unbound from its
 * current driver and given back to driver (NULL: left unbound), verified. */
int pci_driver_restore(const char *root, const char *addr, const char *driver, const char *override);
