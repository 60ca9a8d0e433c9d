CREATE TABLE `join_links` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`network_id` integer NOT NULL,
	`token` text NOT NULL,
	`label` text NOT NULL,
	`is_default` integer DEFAULT false NOT NULL,
	`max_uses` integer,
	`uses` integer DEFAULT 0 NOT NULL,
	`expires_at` integer,
	`created_at` integer NOT NULL,
	`revoked_at` integer,
	FOREIGN KEY (`network_id`) REFERENCES `networks`(`id`) ON UPDATE no action ON DELETE cascade,
	CONSTRAINT "join_links_uses" CHECK("join_links"."uses" >= 0 AND ("join_links"."max_uses" IS NULL OR "join_links"."uses" <= "join_links"."max_uses"))
);
--> statement-breakpoint
CREATE INDEX `join_links_network` ON `join_links` (`network_id`,`id`);--> statement-breakpoint
CREATE UNIQUE INDEX `join_links_token` ON `join_links` (`network_id`,`token`) WHERE "join_links"."revoked_at" IS NULL;--> statement-breakpoint
CREATE UNIQUE INDEX `join_links_default` ON `join_links` (`network_id`) WHERE "join_links"."is_default" AND "join_links"."revoked_at" IS NULL;