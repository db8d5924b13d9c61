import { Button } from "antd";

/** "Load more" under a list read by cursor; nothing once the last page is in. */
export function LoadMore({
  query,
  className,
}: {
  query: { hasNextPage: boolean; isFetchingNextPage: boolean; fetchNextPage: () => unknown };
  className: string;
}) {
  if (!query.hasNextPage) return null;
  return (
    <div className={className}>
      <Button onClick={() => void query.fetchNextPage()} loading={query.isFetchingNextPage}>
        Load more
      </Button>
    </div>
  );
}
