ALTER TABLE `accounts` ADD `suspended_at` integer;--> statement-breakpoint
ALTER TABLE `accounts` ADD `suspended_reason` text;--> statement-breakpoint
CREATE INDEX `accounts_plan` ON `accounts` (`plan`,`id`);--> statement-breakpoint
ALTER TABLE `nodes` ADD `suspended_at` integer;--> statement-breakpoint
ALTER TABLE `nodes` ADD `suspended_reason` text;