/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <libkmod.h>
#include "macro.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(struct kmod_ctx *, kmod_unref);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct kmod_module *, kmod_module_unref);
DEFINE_TRIVIAL_CLEANUP_FUNC(struct kmod_list *, kmod_module_unref_list);

/* Kernel modules, through libkmod, below --root: the module tree is
 * ROOT/lib/modules/RELEASE (RELEASE from ROOT/proc/sys/kernel/osrelease, else uname) and the
 * configuration ROOT/{etc,run,usr/local/lib,lib}/modprobe.d. The state of loaded modules is
 * read from ROOT/sys/module. libkmod itself consults the real /sys/module when it inserts
 * (dependencies already loaded?): with a root other than "/" that is for tests, which redirect
 * it (tests/steps/fake-kernel.c). */

typedef enum ModuleState {
        MODULE_NOT_LOADED,
        MODULE_LIVE,
        MODULE_COMING,
        MODULE_GOING,
        MODULE_BUILTIN,
        _MODULE_STATE_MAX,
        _MODULE_STATE_INVALID = -EINVAL,
} ModuleState;
DECLARE_STRING_TABLE_LOOKUP(module_state, ModuleState);

/* A libkmod context for the tree and configuration below root, resources loaded. */
int module_context_new(const char *root, struct kmod_ctx **ret);
/* 1 if the module (name or alias) exists in the tree or is built in, 0 if not. */
int module_available(const char *root, const char *name);
int module_state(const char *root, const char *name, ModuleState *ret);
/* What keeps a module from being unloaded: its reference count and the modules that hold it
 * (ROOT/sys/module/NAME/{refcnt,holders}). */
int module_users(const char *root, const char *name, unsigned *ret_refcnt, char ***ret_holders);
/* A parameter's current value (ROOT/sys/module/NAME/parameters/PARAM); -ENOENT if the
 * module is not loaded or has no such parameter. */
int module_param_read(const char *root, const char *name, const char *param, char **ret);
/* Load a module and its dependencies (as modprobe does, never running install commands);
 * options are added after those of modprobe.d. 0 loaded, 1 already loaded. */
int module_load(const char *root, const char *name, const char *options);
/* The modules module_load() would insert: the module and its dependencies that are not loaded,
 * dependencies first. */
int module_load_plan(const char *root, const char *name, char ***ret);
/* Unload one module (not its dependencies); -EBUSY if it is in use. */
int module_unload(const char *root, const char *name);
/* Processes that hold /dev/kvm or a KVM VM open (ROOT/proc/PID/fd), as "comm[pid]". */
int kvm_users(const char *root, char ***ret);
/* Whether a module parameter value means "on" (kernel bool "Y"/"y" or a non-zero int). */
bool module_param_is_on(const char *v);
