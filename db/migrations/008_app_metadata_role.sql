-- The TechCare role travels in every access token's app_metadata (the part
-- of a user only trusted code may write), so clients and policies can read
-- it from the JWT without a query. profiles.role is the source of truth;
-- this keeps auth.users.raw_app_meta_data.role equal to it.

create or replace function public.tc_sync_app_role() returns trigger
language plpgsql security definer set search_path = '' as $$
begin
  update auth.users
     set raw_app_meta_data = coalesce(raw_app_meta_data, '{}'::jsonb)
                             || jsonb_build_object('role', new.role::text)
   where id = new.id
     and (raw_app_meta_data ->> 'role') is distinct from new.role::text;
  return null;
end
$$;
revoke execute on function public.tc_sync_app_role() from public;

drop trigger if exists tc_sync_app_role on public.profiles;
create trigger tc_sync_app_role
  after insert or update of role on public.profiles
  for each row execute function public.tc_sync_app_role();

update auth.users u
   set raw_app_meta_data = coalesce(u.raw_app_meta_data, '{}'::jsonb) || jsonb_build_object('role', p.role::text)
  from public.profiles p
 where p.id = u.id and (u.raw_app_meta_data ->> 'role') is distinct from p.role::text;
