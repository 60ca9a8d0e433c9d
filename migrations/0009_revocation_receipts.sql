CREATE TABLE `revocation_cuts` (
	`revocation_id` text NOT NULL,
	`node_id` integer NOT NULL,
	`peer` integer NOT NULL,
	`cut_at` text,
	`received_at` integer,
	`signature` text,
	PRIMARY KEY(`revocation_id`, `node_id`, `peer`),
	FOREIGN KEY (`revocation_id`) REFERENCES `revocations`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `revocation_cuts_node` ON `revocation_cuts` (`node_id`,`received_at`);--> statement-breakpoint
CREATE TABLE `revocations` (
	`id` text PRIMARY KEY NOT NULL,
	`network_id` integer,
	`kind` text NOT NULL,
	`node_id` integer NOT NULL,
	`created_at` integer NOT NULL,
	`answered_at` integer,
	FOREIGN KEY (`network_id`) REFERENCES `networks`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `revocations_network` ON `revocations` (`network_id`,`created_at`);