CREATE TABLE `challenges` (
	`nonce` text PRIMARY KEY NOT NULL,
	`public_key` text NOT NULL,
	`expires_at` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `challenges_expiry` ON `challenges` (`expires_at`);--> statement-breakpoint
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
	`name` text NOT NULL,
	`join_rule` text NOT NULL,
	`created_at` integer NOT NULL,
	CONSTRAINT "networks_id_range" CHECK("networks"."id" BETWEEN 1 AND 65535)
);
--> statement-breakpoint
CREATE TABLE `nodes` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`public_key` text NOT NULL,
	`hostname` text,
	`public` integer DEFAULT false NOT NULL,
	`endpoint` text,
	`lan_addrs` text DEFAULT '[]' NOT NULL,
	`capabilities` text DEFAULT '[]' NOT NULL,
	`token_epoch` integer DEFAULT 0 NOT NULL,
	`registered_at` integer NOT NULL,
	`deregistered_at` integer,
	CONSTRAINT "nodes_id_range" CHECK("nodes"."id" BETWEEN 1 AND 4294967294)
);
--> statement-breakpoint
CREATE UNIQUE INDEX `nodes_public_key` ON `nodes` (`public_key`);--> statement-breakpoint
CREATE UNIQUE INDEX `nodes_hostname` ON `nodes` (`hostname`);--> statement-breakpoint
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