/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "config-log.h"
#include "log.h"
#include "message-ids.h"

size_t config_diagnostics_log(const ConfigDiagnostics *d) {
        for (size_t i = 0; i < d->n_errors; i++) {
                _cleanup_free_ char *s = NULL;
                if (config_error_format(&d->errors[i], &s) >= 0)
                        log_event(LOG_ERR, 0, MHTEST_MESSAGE_CONFIG_INVALID, NULL, "%s", s);
        }
        return d->n_errors;
}
