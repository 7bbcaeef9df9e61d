/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "config.h"

/* Log every configuration error (FILE:LINE: [Section] Key=: message) with the CONFIG_INVALID
 * MESSAGE_ID; returns how many there were. */
size_t config_diagnostics_log(const ConfigDiagnostics *d);
