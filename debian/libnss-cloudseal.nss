# After files (and systemd): local accounts always win over fleet ones.
passwd last cloudseal
group last cloudseal
