// Cloud REST paths below the API base (`/2.0`). `{workspace}` and `{repo_slug}` also accept `{uuid}` forms; Baton
// uses the slugs its Repository names.
import { filePath, segment } from "../http/url.ts";

/** A repository on Cloud, by workspace and slug (the two segments of `full_name`). */
export interface CloudRepository {
  workspace: string;
  slug: string;
}

export function repositoryPath(repo: CloudRepository): string {
  return `/repositories/${segment(repo.workspace)}/${segment(repo.slug)}`;
}

/** `/src/{commit}/{path}`; a folder gets the trailing slash the repository root needs (reference §6.1). */
export function sourcePath(repo: CloudRepository, commit: string, path: string, folder: boolean): string {
  const encoded = filePath(path);
  const tail = encoded === "" ? "/" : folder ? `/${encoded}/` : `/${encoded}`;
  return `${repositoryPath(repo)}/src/${segment(commit)}${tail}`;
}

/** `<origin>/<workspace>/<slug>`, with no context path. */
const browse = /^(https?:\/\/[^/]+)\/([A-Za-z0-9._-]+)\/([A-Za-z0-9._-]+?)(?:\.git)?\/?$/;

/** Server, workspace and slug of a browse or clone URL; workspace slugs are lower case in Cloud's API paths. */
export function parseCloudRepositoryUrl(url: string): { server: string; owner: string; name: string } | undefined {
  const match = browse.exec(url);
  if (!match?.[1] || !match[2] || !match[3]) return undefined;
  return { server: match[1], owner: match[2].toLowerCase(), name: match[3].toLowerCase() };
}
