CREATE TABLE `handshake_requests` (
	`from_node` integer NOT NULL,
	`to_node` integer NOT NULL,
	`target_name` text NOT NULL,
	`justification` text NOT NULL,
	`created_at` integer NOT NULL,
	`expires_at` integer NOT NULL,
	PRIMARY KEY(`from_node`, `to_node`),
	FOREIGN KEY (`from_node`) REFERENCES `nodes`(`id`) ON UPDATE no action ON DELETE no action,
	FOREIGN KEY (`to_node`) REFERENCES `nodes`(`id`) ON UPDATE no action ON DELETE no action,
	CONSTRAINT "handshake_requests_not_self" CHECK("handshake_requests"."from_node" <> "handshake_requests"."to_node")
);
--> statement-breakpoint
CREATE INDEX `handshake_requests_to` ON `handshake_requests` (`to_node`,`expires_at`);--> statement-breakpoint
ALTER TABLE `audit_log` ADD `target_name` text;--> statement-breakpoint
ALTER TABLE `trust_pairs` ADD `mutual` integer DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE `trust_pairs` ADD `network_id` integer;