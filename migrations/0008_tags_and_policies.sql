ALTER TABLE `memberships` ADD `tags` text DEFAULT '[]' NOT NULL;--> statement-breakpoint
ALTER TABLE `networks` ADD `self_tagging` integer DEFAULT false NOT NULL;--> statement-breakpoint
ALTER TABLE `networks` ADD `policy_rules` text DEFAULT '[]' NOT NULL;--> statement-breakpoint
ALTER TABLE `networks` ADD `policy_revision` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `nodes` ADD `requested_tags` text DEFAULT '[]' NOT NULL;