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
