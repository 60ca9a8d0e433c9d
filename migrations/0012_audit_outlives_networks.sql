CREATE TABLE `account_audit` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`account_id` integer NOT NULL,
	`actor_type` text NOT NULL,
	`action` text NOT NULL,
	`network_id` integer,
	`target_id` integer,
	`target_name` text,
	`ip` text,
	`at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `account_audit_account` ON `account_audit` (`account_id`,`id`);--> statement-breakpoint
CREATE INDEX `account_audit_at` ON `account_audit` (`at`);--> statement-breakpoint
PRAGMA foreign_keys=OFF;--> statement-breakpoint
CREATE TABLE `__new_audit_log` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`network_id` integer NOT NULL,
	`account_id` integer NOT NULL,
	`actor_type` text NOT NULL,
	`actor_id` integer NOT NULL,
	`action` text NOT NULL,
	`target_node_id` integer,
	`target_name` text,
	`at` integer NOT NULL
);
--> statement-breakpoint
INSERT INTO `__new_audit_log`("id", "network_id", "account_id", "actor_type", "actor_id", "action", "target_node_id", "target_name", "at") SELECT "id", "network_id", "account_id", "actor_type", "actor_id", "action", "target_node_id", "target_name", "at" FROM `audit_log`;--> statement-breakpoint
DROP TABLE `audit_log`;--> statement-breakpoint
ALTER TABLE `__new_audit_log` RENAME TO `audit_log`;--> statement-breakpoint
PRAGMA foreign_keys=ON;--> statement-breakpoint
CREATE INDEX `audit_log_network` ON `audit_log` (`network_id`,`id`);--> statement-breakpoint
CREATE INDEX `audit_log_at` ON `audit_log` (`at`);