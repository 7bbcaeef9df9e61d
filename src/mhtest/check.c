/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "log.h"
#include "mhtest.h"

int verb_check(int argc, char *argv[]) {
        return verb_not_implemented(argc, argv);
}
