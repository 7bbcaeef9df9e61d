/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "remote.h"
#include "report.h"
#include "schedule.h"

int migrate_one(const char *job, const JobConfig *j, const MigrationStep *st, const RemoteHost *from,
                const RemoteHost *to, MigrationResult *ret);
