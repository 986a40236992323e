/* SPDX-License-Identifier: MIT */
/* Every configuration key cloudseal knows, with its default and bounds.
 * Keep man/cloudseal.conf.5 in step with this table. */
#include <stddef.h>
#include "config/config.h"

const cs_config_key cs_config_keys[] = {
    /* [storage] where the fleet's bucket or directory is */
    { "storage", "url", CS_CONF_STRING, "file:///var/lib/cloudseal/storage", 0, 0 },
    { "storage", "region", CS_CONF_STRING, NULL, 0, 0 },
    { "storage", "path_style", CS_CONF_BOOL, "yes", 0, 0 },
    { "storage", "ca_file", CS_CONF_STRING, NULL, 0, 0 },
    { "storage", "access_key", CS_CONF_STRING, NULL, 0, 0 },
    { "storage", "secret_key_file", CS_CONF_STRING, NULL, 0, 0 },
    { "storage", "connect_timeout", CS_CONF_DURATION, "10s", 1, 600 },
    { "storage", "login_timeout", CS_CONF_DURATION, "3s", 1, 60 },
    /* [storage] S3 backend (storage_s3.c; see cloudseal.conf(5) "S3 STORAGE") */
    { "storage", "request_timeout", CS_CONF_DURATION, "0", 0, 86400 },
    { "storage", "max_retries", CS_CONF_INT, "6", 0, 20 },
    { "storage", "retry_time", CS_CONF_DURATION, "60s", 1, 3600 },
    { "storage", "conditional_put", CS_CONF_STRING, "auto", 0, 0 },
    { "storage", "list_max_keys", CS_CONF_INT, "10000000", 1, 1000000000 },
    { "storage", "multipart_threshold", CS_CONF_SIZE, "64M", 5LL << 20, 5LL << 30 },
    { "storage", "multipart_part_size", CS_CONF_SIZE, "16M", 5LL << 20, 5LL << 30 },
    { "storage", "multipart_parallel", CS_CONF_INT, "4", 1, 16 },
    { "storage", "upload_limit", CS_CONF_SIZE, "0", 0, 1LL << 40 },
    { "storage", "download_limit", CS_CONF_SIZE, "0", 0, 1LL << 40 },

    /* [paths] local state */
    { "paths", "state_dir", CS_CONF_STRING, "/var/lib/cloudseal", 0, 0 },
    { "paths", "helper", CS_CONF_STRING, "/usr/libexec/cloudseal/cloudseal-helper", 0, 0 },

    /* [kdf] password-slot Argon2id cost chosen at enrollment */
    { "kdf", "target_time_ms", CS_CONF_INT, "700", 1, 60000 },
    { "kdf", "memory", CS_CONF_SIZE, "256M", 8LL * 1024 * 1024, 4LL * 1024 * 1024 * 1024 },
    { "kdf", "min_ops", CS_CONF_INT, "1", 1, 64 },
    /* [kdf] what a keybag (hostile: storage writes it) may ask of this machine */
    { "kdf", "max_memory", CS_CONF_SIZE, "0", 0, 4LL * 1024 * 1024 * 1024 },
    { "kdf", "max_ops", CS_CONF_INT, "16", 1, 64 },

    /* [session] what happens to the unlocked key */
    { "session", "lock", CS_CONF_STRING, "logout", 0, 0 },


    /* [agent] cloudseal-agent, the per-user service (see cloudseal-agent(8)) */
    { "agent", "backup", CS_CONF_BOOL, "yes", 0, 0 },
    { "agent", "interval", CS_CONF_DURATION, "1h", 1, 7 * 86400 },
    { "agent", "randomized_delay", CS_CONF_DURATION, "5min", 0, 86400 },
    { "agent", "archive_sync", CS_CONF_STRING, "auto", 0, 0 },
    { "agent", "archive_interval", CS_CONF_DURATION, "15min", 1, 7 * 86400 },
    { "agent", "retry_min", CS_CONF_DURATION, "1min", 1, 86400 },
    { "agent", "retry_max", CS_CONF_DURATION, "1h", 1, 86400 },
    { "agent", "stop_timeout", CS_CONF_DURATION, "45s", 1, 3600 },
    { "agent", "keyring_poll", CS_CONF_DURATION, "5s", 1, 300 },
    { "agent", "notify_after_failures", CS_CONF_INT, "3", 1, 1000 },
    { "agent", "cloudseal", CS_CONF_STRING, NULL, 0, 0 },
    { "agent", "schedule", CS_CONF_STRING, NULL, 0, 0 },
    { "agent", "battery_min", CS_CONF_INT, "20", 0, 101 },
    { "agent", "run_on_metered", CS_CONF_BOOL, "no", 0, 0 },
    { "agent", "overdue_after", CS_CONF_DURATION, "3d", 0, 365LL * 86400 },

    /* [retention] what the agent forgets after backups (cloudseal-agent(8) RETENTION) */
    { "retention", "enabled", CS_CONF_BOOL, "yes", 0, 0 },
    { "retention", "keep_last", CS_CONF_INT, "3", 0, 1000000 },
    { "retention", "keep_hourly", CS_CONF_INT, "24", 0, 1000000 },
    { "retention", "keep_daily", CS_CONF_INT, "30", 0, 1000000 },
    { "retention", "keep_weekly", CS_CONF_INT, "52", 0, 1000000 },
    { "retention", "keep_monthly", CS_CONF_INT, "1200", 0, 1000000 },
    { "retention", "keep_yearly", CS_CONF_INT, "0", 0, 1000000 },
    { "retention", "prune_interval", CS_CONF_DURATION, "7d", 0, 366LL * 86400 },
    { "retention", "prune_timeout", CS_CONF_DURATION, "1h", 60, 86400 },
    { "retention", "prune_max_repack", CS_CONF_SIZE, "1G", 0, 1LL << 40 },
    { "retention", "guard_ratio", CS_CONF_INT, "20", 0, 100 },
    { "retention", "guard_keep", CS_CONF_INT, "3", 1, 1000 },

    /* [fleet] the signed user directory (docs/directory.md, owner: fleet) */
    { "fleet", "public_key_file", CS_CONF_STRING, "/etc/cloudseal/fleet.pub", 0, 0 },
    { "fleet", "public_key", CS_CONF_STRING, NULL, 0, 0 },
    { "fleet", "cache", CS_CONF_STRING, "/var/lib/cloudseal/directory.cache", 0, 0 },
    { "fleet", "state", CS_CONF_STRING, "/var/lib/cloudseal/directory.state", 0, 0 },
    { "fleet", "id_min", CS_CONF_INT, "1000000", 1000, 2147483647 },
    { "fleet", "id_max", CS_CONF_INT, "1999999", 1000, 2147483647 },
    { "fleet", "local_passwd", CS_CONF_STRING, "/etc/passwd", 0, 0 },
    { "fleet", "local_group", CS_CONF_STRING, "/etc/group", 0, 0 },
    { "fleet", "max_size", CS_CONF_SIZE, "64M", 1024, 64LL * 1024 * 1024 },
    { "fleet", "source", CS_CONF_STRING, NULL, 0, 0 },
    { "fleet", "report_interval", CS_CONF_DURATION, "1h", 0, 7 * 86400 },
    { "fleet", "secret_key_file", CS_CONF_STRING, NULL, 0, 0 },
    { "fleet", "validity", CS_CONF_DURATION, "30d", 3600, 366LL * 86400 },

    /* [backup] cloudseal backup (see cloudseal.conf(5), docs/repository.md) */
    { "backup", "paths", CS_CONF_STRING, NULL, 0, 0 },
    { "backup", "exclude", CS_CONF_STRING, "~/.cache ~/.local/share/Trash ~/.local/state/cloudseal", 0, 0 },
    { "backup", "exclude_file", CS_CONF_STRING, NULL, 0, 0 },
    { "backup", "one_file_system", CS_CONF_BOOL, "no", 0, 0 },
    { "backup", "cache_dir", CS_CONF_STRING, NULL, 0, 0 },
    { "backup", "workers", CS_CONF_INT, "0", 0, 8 },

    /* [archive] message-archive sync (lib/archive, docs/archive.md) */
    { "archive", "maildir", CS_CONF_STRING, "~/Maildir", 0, 0 },
    { "archive", "state_dir", CS_CONF_STRING, NULL, 0, 0 },
    { "archive", "pack_size", CS_CONF_SIZE, "8M", 64 * 1024, 64LL * 1024 * 1024 },
    { "archive", "gc_interval", CS_CONF_DURATION, "7d", 0, 366LL * 86400 },
    { "archive", "gc_grace", CS_CONF_DURATION, "7d", 0, 366LL * 86400 },
    { "archive", "max_deletions", CS_CONF_INT, "50", 1, 1000000000 },
    { "archive", "max_deletions_percent", CS_CONF_INT, "25", 1, 100 },
    { "archive", "keep_deleted", CS_CONF_DURATION, "30d", 0, 3660LL * 86400 },

    { NULL, NULL, 0, NULL, 0, 0 },
};

const cs_config_choice cs_config_choices[] = {
    { "session", "lock", "logout reboot" },
    { "storage", "conditional_put", "auto yes no" },
    { NULL, NULL, NULL },
};
