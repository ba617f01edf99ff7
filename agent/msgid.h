/* journal MESSAGE_IDs, one per event kind. Each has an entry in units/netroot-agent.catalog
 * (a test checks that), so `journalctl -x` explains the event and how to act on it. */
#pragma once

#define MSGID_DAEMON_STARTED          "42fd5efb941245a7bab8298817d5a82d"
#define MSGID_DAEMON_STOPPING         "4579d43e304244088f07313015fecd7e"
#define MSGID_CONFIG_RELOADED         "25399a4c7a9f4bdfb858fc552a98f58f"
#define MSGID_CONFIG_RELOAD_FAILED    "e89c7f3a3d704231a23d59fe52780f89"
#define MSGID_CONFIG_WARNING          "0696744d28494293a88567ab15d9837e"
#define MSGID_LED_SET                 "89af628024d645f494cf0d2c81b4d18f"
#define MSGID_LED_MISSING             "ce9c9f34a33846d3b209ac2f140b7f68"
#define MSGID_IPV6_APPLIED            "69affc0463c448999373980c26448b76"
#define MSGID_IPV6_DRIFT_CORRECTED    "d48dc634386b458d809c5f55903f88cd"
#define MSGID_IPV6_UNAVAILABLE        "1f879b25245f49bf90441978c0c03693"
#define MSGID_IPV6_FAILED             "da783853d8264f82bef10b27ab5eaca2"
#define MSGID_HEALTH_CHANGED          "a5b6bc9f4cfa49f2afde879e0874b11f"
#define MSGID_PROBE_FAILED            "3a367cb42e9f4e75b51ef98663b6c5df"
#define MSGID_UPGRADE_STEP            "97343cb413c04f83b9506ea331a95dc0"
#define MSGID_UPGRADE_DONE            "64dddbcbbbd04ae8a7706a525e9168e3"
#define MSGID_UPGRADE_ROLLED_BACK     "6c22c6f297104f8a9d8af603e45cc7b1"
#define MSGID_UPGRADE_ROLLBACK_FAILED "41f1046484d140c5af1f71ac94f133b6"
#define MSGID_BOOT_CONFIRMED          "b6e55df01ca247ffa7fbc06e67aeb532"
#define MSGID_BOOT_REJECTED           "c73fe56bc4e844c9a83f375cb7f21cd8"
#define MSGID_TRANSACTION_RECOVERED   "a2581a6e19a44117b11262ade213cca6"
