CREATE TABLE `accounts` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`email` text NOT NULL,
	`password_hash` text NOT NULL,
	`plan` text DEFAULT 'free' NOT NULL,
	`created_at` integer NOT NULL,
	FOREIGN KEY (`plan`) REFERENCES `plans`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE UNIQUE INDEX `accounts_email` ON `accounts` (`email`);--> statement-breakpoint
CREATE TABLE `api_tokens` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`account_id` integer NOT NULL,
	`name` text NOT NULL,
	`token_hash` text NOT NULL,
	`created_at` integer NOT NULL,
	`revoked_at` integer,
	FOREIGN KEY (`account_id`) REFERENCES `accounts`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE UNIQUE INDEX `api_tokens_hash` ON `api_tokens` (`token_hash`);--> statement-breakpoint
CREATE INDEX `api_tokens_account` ON `api_tokens` (`account_id`);--> statement-breakpoint
CREATE TABLE `audit_log` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`network_id` integer NOT NULL,
	`actor_type` text NOT NULL,
	`actor_id` integer NOT NULL,
	`action` text NOT NULL,
	`target_node_id` integer,
	`at` integer NOT NULL,
	FOREIGN KEY (`network_id`) REFERENCES `networks`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `audit_log_network` ON `audit_log` (`network_id`,`id`);--> statement-breakpoint
CREATE TABLE `challenges` (
	`nonce` text PRIMARY KEY NOT NULL,
	`public_key` text NOT NULL,
	`expires_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `challenges_expiry` ON `challenges` (`expires_at`);--> statement-breakpoint
CREATE TABLE `enrollment_keys` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`account_id` integer NOT NULL,
	`description` text NOT NULL,
	`key_hash` text NOT NULL,
	`reusable` integer NOT NULL,
	`max_uses` integer,
	`uses` integer DEFAULT 0 NOT NULL,
	`expires_at` integer,
	`revoked_at` integer,
	`created_at` integer NOT NULL,
	FOREIGN KEY (`account_id`) REFERENCES `accounts`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE UNIQUE INDEX `enrollment_keys_hash` ON `enrollment_keys` (`key_hash`);--> statement-breakpoint
CREATE INDEX `enrollment_keys_account` ON `enrollment_keys` (`account_id`);--> statement-breakpoint
CREATE TABLE `invitations` (
	`network_id` integer NOT NULL,
	`node_id` integer NOT NULL,
	`created_at` integer NOT NULL,
	`expires_at` integer NOT NULL,
	PRIMARY KEY(`network_id`, `node_id`),
	FOREIGN KEY (`network_id`) REFERENCES `networks`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`node_id`) REFERENCES `nodes`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `invitations_node` ON `invitations` (`node_id`);--> statement-breakpoint
CREATE TABLE `memberships` (
	`network_id` integer NOT NULL,
	`node_id` integer NOT NULL,
	`joined_at` integer NOT NULL,
	PRIMARY KEY(`network_id`, `node_id`),
	FOREIGN KEY (`network_id`) REFERENCES `networks`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`node_id`) REFERENCES `nodes`(`id`) ON UPDATE no action ON DELETE no action,
	CONSTRAINT "memberships_not_backbone" CHECK("memberships"."network_id" >= 1)
);
--> statement-breakpoint
CREATE INDEX `memberships_node` ON `memberships` (`node_id`,`network_id`);--> statement-breakpoint
CREATE TABLE `networks` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`account_id` integer NOT NULL,
	`name` text NOT NULL,
	`join_rule` text NOT NULL,
	`join_token` text,
	`member_count` integer DEFAULT 0 NOT NULL,
	`revision` integer DEFAULT 0 NOT NULL,
	`created_at` integer NOT NULL,
	FOREIGN KEY (`account_id`) REFERENCES `accounts`(`id`) ON UPDATE no action ON DELETE no action,
	CONSTRAINT "networks_id_range" CHECK("networks"."id" BETWEEN 1 AND 65535)
);
--> statement-breakpoint
CREATE UNIQUE INDEX `networks_account_name` ON `networks` (`account_id`,`name`);--> statement-breakpoint
CREATE TABLE `nodes` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`public_key` text NOT NULL,
	`owner_account_id` integer,
	`hostname` text,
	`public` integer DEFAULT false NOT NULL,
	`endpoint` text,
	`lan_addrs` text DEFAULT '[]' NOT NULL,
	`capabilities` text DEFAULT '[]' NOT NULL,
	`token_epoch` integer DEFAULT 0 NOT NULL,
	`registered_at` integer NOT NULL,
	`deregistered_at` integer,
	FOREIGN KEY (`owner_account_id`) REFERENCES `accounts`(`id`) ON UPDATE no action ON DELETE no action,
	CONSTRAINT "nodes_id_range" CHECK("nodes"."id" BETWEEN 1 AND 4294967294)
);
--> statement-breakpoint
CREATE UNIQUE INDEX `nodes_public_key` ON `nodes` (`public_key`);--> statement-breakpoint
CREATE UNIQUE INDEX `nodes_hostname` ON `nodes` (`hostname`);--> statement-breakpoint
CREATE TABLE `plans` (
	`id` text PRIMARY KEY NOT NULL,
	`max_networks` integer NOT NULL,
	`max_members` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `sessions` (
	`id_hash` text PRIMARY KEY NOT NULL,
	`account_id` integer NOT NULL,
	`csrf_token` text NOT NULL,
	`expires_at` integer NOT NULL,
	FOREIGN KEY (`account_id`) REFERENCES `accounts`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `sessions_account` ON `sessions` (`account_id`);--> statement-breakpoint
CREATE INDEX `sessions_expiry` ON `sessions` (`expires_at`);--> statement-breakpoint
CREATE TABLE `trust_pairs` (
	`node_a` integer NOT NULL,
	`node_b` integer NOT NULL,
	`created_at` integer NOT NULL,
	PRIMARY KEY(`node_a`, `node_b`),
	FOREIGN KEY (`node_a`) REFERENCES `nodes`(`id`) ON UPDATE no action ON DELETE no action,
	FOREIGN KEY (`node_b`) REFERENCES `nodes`(`id`) ON UPDATE no action ON DELETE no action,
	CONSTRAINT "trust_pairs_ordered" CHECK("trust_pairs"."node_a" < "trust_pairs"."node_b")
);
--> statement-breakpoint
CREATE INDEX `trust_pairs_b` ON `trust_pairs` (`node_b`);
